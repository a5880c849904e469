/**
 * Upload progress on stderr: a cli-progress bar when stderr is a terminal, otherwise
 * (logs, CI, pipes) a plain line every few seconds, so redirected output stays readable.
 */
import cliProgress from 'cli-progress'
import { formatBytes, formatCount, formatDuration, formatPercent } from './format.ts'

export interface TransferProgress {
  /** totalBytes is unknown for a pipe. */
  start(totalBytes: number | undefined): void
  update(bytes: number, lines: number): void
  /** Prints a whole line without tearing the bar. */
  log(line: string): void
  stop(): void
}

export interface TransferProgressOptions {
  readonly label: string
  readonly stream?: NodeJS.WriteStream
  /** Plain-line period when the stream is not a terminal. */
  readonly plainIntervalMs?: number
  /** No progress at all (only log lines pass through). */
  readonly quiet?: boolean
}

interface Snapshot {
  readonly bytes: number
  readonly lines: number
  readonly totalBytes: number | undefined
  readonly elapsedMs: number
}

/** "12.3 MiB / 600 MiB (2%), 1.2M lines, 250k lines/s, ETA 40s": the text both renderings share. */
export function describeTransfer(s: Snapshot): string {
  const seconds = s.elapsedMs / 1000
  const rate = seconds > 0 ? s.lines / seconds : 0
  const parts = [s.totalBytes === undefined
    ? formatBytes(s.bytes)
    : `${formatBytes(s.bytes)} / ${formatBytes(s.totalBytes)} (${formatPercent(s.totalBytes === 0 ? 1 : s.bytes / s.totalBytes)})`]
  parts.push(`${formatCount(s.lines)} lines`, `${formatCount(rate)} lines/s`)
  if (s.totalBytes !== undefined && s.bytes > 0 && s.bytes < s.totalBytes) {
    parts.push(`ETA ${formatDuration(((s.totalBytes - s.bytes) / s.bytes) * s.elapsedMs)}`)
  }
  return parts.join(', ')
}

export function createTransferProgress(options: TransferProgressOptions): TransferProgress {
  const stream = options.stream ?? process.stderr
  if (options.quiet === true) return { start() {}, update() {}, log: (line) => stream.write(`${line}\n`), stop() {} }
  return stream.isTTY === true ? new BarProgress(options.label, stream) : new PlainProgress(options.label, stream, options.plainIntervalMs ?? 5000)
}

class BarProgress implements TransferProgress {
  private readonly label: string
  private readonly multibar: cliProgress.MultiBar
  private bar: cliProgress.SingleBar | undefined
  private startedAt = 0
  private totalBytes: number | undefined

  constructor(label: string, stream: NodeJS.WriteStream) {
    this.label = label
    this.multibar = new cliProgress.MultiBar({
      stream,
      hideCursor: true,
      clearOnComplete: false,
      gracefulExit: false,
      fps: 5,
      barsize: 20,
      format: (opts, params, payload: { text?: string }) => {
        const bar = this.totalBytes === undefined ? '' : `[${(opts.barCompleteString ?? '').slice(0, Math.round(params.progress * 20))}` +
          `${(opts.barIncompleteString ?? '').slice(0, 20 - Math.round(params.progress * 20))}] `
        return `${this.label} ${bar}${payload.text ?? ''}`
      }
    }, cliProgress.Presets.shades_classic)
  }

  start(totalBytes: number | undefined): void {
    this.startedAt = Date.now()
    this.totalBytes = totalBytes
    this.bar = this.multibar.create(Math.max(1, totalBytes ?? 1), 0, { text: describeTransfer({ bytes: 0, lines: 0, totalBytes, elapsedMs: 0 }) })
  }

  update(bytes: number, lines: number): void {
    const text = describeTransfer({ bytes, lines, totalBytes: this.totalBytes, elapsedMs: Date.now() - this.startedAt })
    this.bar?.update(this.totalBytes === undefined ? 0 : bytes, { text })
  }

  log(line: string): void {
    this.multibar.log(`${line}\n`)
  }

  stop(): void {
    this.multibar.stop()
  }
}

class PlainProgress implements TransferProgress {
  private readonly label: string
  private readonly stream: NodeJS.WriteStream
  private readonly intervalMs: number
  private timer: NodeJS.Timeout | undefined
  private startedAt = 0
  private totalBytes: number | undefined
  private bytes = 0
  private lines = 0

  constructor(label: string, stream: NodeJS.WriteStream, intervalMs: number) {
    this.label = label
    this.stream = stream
    this.intervalMs = intervalMs
  }

  start(totalBytes: number | undefined): void {
    this.startedAt = Date.now()
    this.totalBytes = totalBytes
    this.timer = setInterval(() => this.print(), this.intervalMs)
    this.timer.unref()
  }

  update(bytes: number, lines: number): void {
    this.bytes = bytes
    this.lines = lines
  }

  log(line: string): void {
    this.stream.write(`${line}\n`)
  }

  stop(): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  private print(): void {
    this.stream.write(`${this.label}: ${describeTransfer({ bytes: this.bytes, lines: this.lines, totalBytes: this.totalBytes, elapsedMs: Date.now() - this.startedAt })}\n`)
  }
}
