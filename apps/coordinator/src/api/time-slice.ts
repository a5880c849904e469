import { setImmediate as nextTurn } from 'node:timers/promises'

/**
 * How long one request may hold the event loop before it lets others run. The leader's
 * lease renewal, the other requests and /healthz share this loop: one 100 KB line once
 * blocked it for 7.5 s and the leader lost its lease.
 */
export const SLICE_MS = 5

/** Yields to the event loop once SLICE_MS of work has gone by since the last yield. */
export class TimeSlicer {
  private since = performance.now()

  async pause(): Promise<void> {
    if (performance.now() - this.since < SLICE_MS) return
    await nextTurn()
    this.since = performance.now()
  }
}
