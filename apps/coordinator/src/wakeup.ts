/**
 * The leader loop's sleep between ticks, which a wake() cuts short. New keys then
 * become burst jobs within milliseconds of their POST instead of after up to a tick
 * (1 s, half of that on average). Wakes coalesce: however many come while a tick
 * runs, the next sleep returns at once, once.
 */
export class Wakeup {
  #pending = false
  #resolve: (() => void) | undefined

  wake(): void {
    const resolve = this.#resolve
    if (resolve === undefined) {
      this.#pending = true
      return
    }
    this.#resolve = undefined
    resolve()
  }

  /** Resolves after ms, on wake() or on abort; at once if woken since the last sleep. */
  sleep(ms: number, signal: AbortSignal): Promise<void> {
    if (this.#pending || signal.aborted) {
      this.#pending = false
      return Promise.resolve()
    }
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        signal.removeEventListener('abort', done)
        this.#resolve = undefined
        resolve()
      }
      const timer = setTimeout(done, ms)
      signal.addEventListener('abort', done, { once: true })
      this.#resolve = done
    })
  }
}
