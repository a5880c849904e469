/**
 * Pending virtual timers in a binary min-heap ordered by (due time, registration
 * order), so ties fire first-come first-served and a run is reproducible.
 */
export class TimerQueue {
  private readonly due: number[] = []
  private readonly order: number[] = []
  private readonly wake: (() => void)[] = []
  private registered = 0

  get size(): number {
    return this.due.length
  }

  /** Due time of the earliest timer; undefined when none is pending. */
  peekDue(): number | undefined {
    return this.due[0]
  }

  push(due: number, wake: () => void): void {
    this.due.push(due)
    this.order.push(this.registered++)
    this.wake.push(wake)
    this.siftUp(this.due.length - 1)
  }

  /** Removes the earliest timer and returns its wake-up callback. */
  pop(): (() => void) | undefined {
    const size = this.due.length
    if (size === 0) return undefined
    const first = this.wake[0]
    const lastDue = this.due.pop()!
    const lastOrder = this.order.pop()!
    const lastWake = this.wake.pop()!
    if (size > 1) {
      this.due[0] = lastDue
      this.order[0] = lastOrder
      this.wake[0] = lastWake
      this.siftDown(0)
    }
    return first
  }

  private before(i: number, j: number): boolean {
    return this.due[i] < this.due[j] || (this.due[i] === this.due[j] && this.order[i] < this.order[j])
  }

  private swap(i: number, j: number): void {
    const due = this.due[i]
    this.due[i] = this.due[j]
    this.due[j] = due
    const order = this.order[i]
    this.order[i] = this.order[j]
    this.order[j] = order
    const wake = this.wake[i]
    this.wake[i] = this.wake[j]
    this.wake[j] = wake
  }

  private siftUp(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.before(i, parent)) return
      this.swap(i, parent)
      i = parent
    }
  }

  private siftDown(i: number): void {
    const size = this.due.length
    for (;;) {
      const left = 2 * i + 1
      if (left >= size) return
      const right = left + 1
      const child = right < size && this.before(right, left) ? right : left
      if (!this.before(child, i)) return
      this.swap(i, child)
      i = child
    }
  }
}
