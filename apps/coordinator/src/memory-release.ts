import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

export interface MemoryReleaseOptions {
  /** Quiet time after the last request body before the release (default 5 s). */
  readonly idleMs?: number
  /** Request bytes since the last release that make one worth its pause (default 64 MiB). */
  readonly minBytes?: number
  /** A full collection; by default V8's, exposed at first use. */
  readonly collect?: () => void
  readonly onRelease?: (outcome: { bytes: number; rssBefore: number; rssAfter: number; pauseMs: number }) => void
  /** The collection failed; the coordinator carries on with its memory as it was. */
  readonly onError?: (error: unknown) => void
}

/** Requests below this size are not import traffic. */
const SMALL_REQUEST_BYTES = 64 * 1024

/**
 * Gives an import's memory back once the API is quiet. An import of millions of CIDs grows
 * V8's heap and leaves its request buffers referenced only by garbage; a coordinator at
 * rest allocates almost nothing, so no collection ever comes to free them, and RSS stays at
 * the import's high-water mark (446 MiB after 50M CIDs, BENCHMARKS.md). One full collection
 * after the import frees the buffers and lets V8 shrink its heap. It pauses the event loop
 * for tens of milliseconds, so it runs only when the API has been idle a while after a
 * large amount of request data.
 */
export class IdleMemoryRelease {
  private readonly idleMs: number
  private readonly minBytes: number
  private readonly collect: () => void
  private readonly onRelease: MemoryReleaseOptions['onRelease']
  private readonly onError: MemoryReleaseOptions['onError']
  private bytes = 0
  private timer: NodeJS.Timeout | undefined

  constructor(options: MemoryReleaseOptions = {}) {
    this.idleMs = options.idleMs ?? 5_000
    this.minBytes = options.minBytes ?? 64 * 1024 * 1024
    this.collect = options.collect ?? fullCollection
    this.onRelease = options.onRelease
    this.onError = options.onError
  }

  /**
   * A request read this many bytes. One with a body of an import's size restarts the quiet
   * period; the small ones (a stats poll, a single CID) neither count nor restart it, or a
   * dashboard polling every few seconds would put the release off for ever.
   */
  noteRequest(bytes: number): void {
    if (bytes < SMALL_REQUEST_BYTES) return
    this.noteWork(bytes)
  }

  /**
   * Work of this many bytes went through the heap outside a request: a keystore
   * re-bucketing, whose copy reads every key into this process, leaves the same garbage.
   */
  noteWork(bytes: number): void {
    this.bytes += bytes
    clearTimeout(this.timer)
    if (this.bytes < this.minBytes) return
    this.timer = setTimeout(() => this.release(), this.idleMs)
    this.timer.unref()
  }

  stop(): void {
    clearTimeout(this.timer)
  }

  private release(): void {
    const bytes = this.bytes
    this.bytes = 0
    const rssBefore = process.memoryUsage.rss()
    const started = performance.now()
    try {
      this.collect()
    } catch (error) {
      // in a timer, a throw would end the process: memory is not worth that
      this.onError?.(error)
      return
    }
    this.onRelease?.({ bytes, rssBefore, rssAfter: process.memoryUsage.rss(), pauseMs: performance.now() - started })
  }
}

let exposedGc: (() => void) | undefined

/**
 * V8's gc(), without asking every way of starting the coordinator (npx, the image, `sweep
 * up`) to pass --expose-gc: the flag, set at run time, exposes gc in contexts created after it.
 */
function fullCollection(): void {
  if (exposedGc === undefined) {
    setFlagsFromString('--expose-gc')
    exposedGc = runInNewContext('gc') as () => void
  }
  exposedGc()
}
