/**
 * The live view of `sweep up` and the demo: GET /v1/stats every second, drawn as two
 * bars (regions swept this cycle, keys provided) and a line of counters on a terminal,
 * or as a plain line every few seconds otherwise.
 */
import cliProgress from 'cli-progress'
import type { ApiClient } from '../client/api-client.ts'
import type { Stats } from '../client/api-types.ts'
import { formatCount, formatInt } from '../client/format.ts'

export interface LiveViewOptions {
  readonly client: ApiClient
  readonly stream?: NodeJS.WriteStream
  readonly intervalMs?: number
  /** Plain-line period when the stream is not a terminal. */
  readonly plainIntervalMs?: number
  /**
   * With a target (the demo), the bar counts all keys provided up to it; without one
   * (`sweep up`), it counts this cycle's provided keys against the stored key count.
   */
  readonly targetKeys?: number
  /** Every fresh reading, for callers waiting on a condition. */
  readonly onStats?: (stats: Stats) => void
}

/** "keys 20k · regions 12/40 · provided 15k · queue 3 waiting, 2 active · workers 2 · records 300k · 1.2k keys/min" */
export function describeLive(stats: Stats): string {
  const q = stats.queues
  return [
    `keys ${formatCount(stats.keys.total)}`,
    `regions ${formatInt(stats.cycle.regionsDone)}/${formatInt(stats.cycle.regionsTotal)} this cycle`,
    `provided ${formatCount(stats.provides.keysProvided)}`,
    `queue ${formatInt(q.waiting + q.prioritized)} waiting, ${formatInt(q.active)} active${q.failed > 0 ? `, ${formatInt(q.failed)} failed` : ''}`,
    `workers ${stats.workers.length}`,
    `records ${formatCount(stats.provides.recordsSent)}`,
    `${formatCount(stats.provides.keysPerMinute)} keys/min`
  ].join(' · ')
}

export class LiveView {
  private readonly options: LiveViewOptions
  private readonly stream: NodeJS.WriteStream
  private readonly tty: boolean
  private multibar: cliProgress.MultiBar | undefined
  private regionsBar: cliProgress.SingleBar | undefined
  private keysBar: cliProgress.SingleBar | undefined
  private textBar: cliProgress.SingleBar | undefined
  private timer: NodeJS.Timeout | undefined
  private plainTimer: NodeJS.Timeout | undefined
  private latest: Stats | undefined
  private problem: string | undefined
  private polling = false

  constructor(options: LiveViewOptions) {
    this.options = options
    this.stream = options.stream ?? process.stderr
    this.tty = this.stream.isTTY === true
  }

  /** The last reading, if any. */
  get stats(): Stats | undefined {
    return this.latest
  }

  start(): void {
    if (this.tty) {
      this.multibar = new cliProgress.MultiBar({
        stream: this.stream, hideCursor: true, gracefulExit: false, fps: 2, barsize: 30, clearOnComplete: false,
        format: (opts, params, payload: { label?: string; text?: string; bar?: boolean }) => {
          if (payload.bar === false) return payload.text ?? ''
          const filled = Math.round(params.progress * 30)
          return `${payload.label ?? ''} [${(opts.barCompleteString ?? '').slice(0, filled)}${(opts.barIncompleteString ?? '').slice(0, 30 - filled)}] ${payload.text ?? ''}`
        }
      }, cliProgress.Presets.shades_classic)
      this.regionsBar = this.multibar.create(1, 0, { label: 'regions this cycle', text: '' })
      this.keysBar = this.multibar.create(1, 0, { label: this.options.targetKeys === undefined ? 'keys this cycle   ' : 'keys provided     ', text: '' })
      this.textBar = this.multibar.create(1, 0, { bar: false, text: 'waiting for the first stats…' })
    } else {
      this.plainTimer = setInterval(() => this.printPlain(), this.options.plainIntervalMs ?? 10_000)
      this.plainTimer.unref()
    }
    void this.poll()
    this.timer = setInterval(() => void this.poll(), this.options.intervalMs ?? 1000)
    this.timer.unref()
  }

  /** A line above the bars (or plainly). */
  log(line: string): void {
    if (this.multibar !== undefined) this.multibar.log(`${line}\n`)
    else this.stream.write(`${line}\n`)
  }

  stop(): void {
    clearInterval(this.timer)
    clearInterval(this.plainTimer)
    this.timer = this.plainTimer = undefined
    this.multibar?.stop()
    this.multibar = undefined
  }

  private async poll(): Promise<void> {
    if (this.polling) return
    this.polling = true
    try {
      const stats = await this.options.client.get<Stats>('/v1/stats', { timeoutMs: 5000 })
      this.latest = stats
      this.problem = undefined
      this.render(stats)
      this.options.onStats?.(stats)
    } catch (error) {
      this.problem = `stats unavailable: ${(error as Error).message}`
      this.textBar?.update(0, { bar: false, text: this.problem })
    } finally {
      this.polling = false
    }
  }

  private render(stats: Stats): void {
    if (this.multibar === undefined) return
    const target = this.options.targetKeys ?? stats.keys.total
    const provided = this.options.targetKeys === undefined ? stats.cycle.keysProvided : stats.provides.keysProvided
    const { regionsDone, regionsTotal } = stats.cycle
    this.regionsBar?.setTotal(Math.max(1, regionsTotal))
    this.regionsBar?.update(Math.min(regionsDone, Math.max(1, regionsTotal)), { text: `${formatInt(regionsDone)}/${formatInt(regionsTotal)}` })
    this.keysBar?.setTotal(Math.max(1, target))
    this.keysBar?.update(Math.min(provided, Math.max(1, target)), { text: `${formatInt(provided)}/${formatInt(target)}` })
    this.textBar?.update(0, { bar: false, text: describeLive(stats) })
  }

  private printPlain(): void {
    this.stream.write(`${this.problem ?? (this.latest === undefined ? 'waiting for the first stats…' : describeLive(this.latest))}\n`)
  }
}
