import type { Clock } from '@sweep/sweep'
import { TimerQueue } from './timer-queue.ts'

/**
 * Discrete-event virtual time. sleep() only registers a timer; run() moves time
 * forward from timer to timer, so a simulated hour of network traffic costs only
 * the CPU time of the code under test, and the same code gives the same timeline.
 */
export class VirtualClock implements Clock {
  private current: number
  private readonly timers = new TimerQueue()
  private running = false

  constructor(start = 0) {
    this.current = start
  }

  now(): number {
    return this.current
  }

  /** Resolves once run() has advanced virtual time by ms (negative or NaN counts as 0). */
  sleep(ms: number): Promise<void> {
    const delay = ms > 0 ? ms : 0
    return new Promise((resolve) => this.timers.push(this.current + delay, resolve))
  }

  /** Timers registered but not fired yet (requests still in flight count here). */
  get pendingTimers(): number {
    return this.timers.size
  }

  /**
   * Drives virtual time until fn's promise settles, then settles the same way.
   * Each step yields one macrotask, so every microtask (every continuation of the
   * previous wake-up) has run before time moves again; then it fires the earliest
   * timer alone. Timers still pending when fn settles stay queued for the next run.
   */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.running) throw new Error('VirtualClock.run is already driving this clock; nest plain awaits instead')
    this.running = true
    try {
      let outcome: { ok: true; value: T } | { ok: false; error: unknown } | undefined
      fn().then(
        (value) => { outcome = { ok: true, value } },
        (error: unknown) => { outcome = { ok: false, error } }
      )
      for (;;) {
        await yieldMacrotask()
        if (outcome) {
          if (outcome.ok) return outcome.value
          throw outcome.error
        }
        const due = this.timers.peekDue()
        if (due === undefined) {
          throw new Error(`VirtualClock deadlock at t=${this.current} ms: the task is still pending but no timer is, so nothing can ever wake it`)
        }
        this.current = due
        this.timers.pop()!()
      }
    } finally {
      this.running = false
    }
  }
}

function yieldMacrotask(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}
