import { monitorEventLoopDelay } from 'node:perf_hooks'

/** Seconds of event-loop delay kept: longer than any dial or query a failure is judged on. */
const KEPT_SECONDS = 120
/** The delay monitor's timer period; its readings include it. */
const RESOLUTION_MS = 20

/**
 * How late this process's event loop ran, per second, for the last two minutes. A host
 * that is starved of CPU (a busy node, a throttling cgroup limit, a long GC) runs its
 * timers late and its handshakes slowly, so every peer it waits on seems to time out at
 * once: such timeouts say nothing about the peers.
 */
export class HostLag {
  private readonly histogram: ReturnType<typeof monitorEventLoopDelay>
  /** Closed seconds, oldest first: when each ended and the longest delay in it. */
  private readonly seconds: Array<{ end: number; maxMs: number }> = []
  private readonly timer: NodeJS.Timeout
  private readonly now: () => number

  constructor(now: () => number = Date.now) {
    this.now = now
    this.histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
    this.histogram.enable()
    this.timer = setInterval(() => this.roll(), 1000).unref()
  }

  /** The longest the event loop was held up within the last `ms` (and the second before, the grain). */
  within(ms: number): number {
    const since = this.now() - ms
    let max = this.current()
    for (let i = this.seconds.length - 1; i >= 0 && this.seconds[i].end >= since; i--) max = Math.max(max, this.seconds[i].maxMs)
    return max
  }

  stop(): void {
    clearInterval(this.timer)
    this.histogram.disable()
  }

  private current(): number {
    return this.histogram.count > 0 ? Math.max(0, this.histogram.max / 1e6 - RESOLUTION_MS) : 0
  }

  /** Closes the current second; the host's timer calls this every second. */
  roll(): void {
    this.seconds.push({ end: this.now(), maxMs: this.current() })
    this.histogram.reset()
    if (this.seconds.length > KEPT_SECONDS) this.seconds.shift()
  }
}
