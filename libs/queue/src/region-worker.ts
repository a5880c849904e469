import { Queue, UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq'
import type { Redis } from 'ioredis'
import type { RegionReport } from '@sweep/sweep'
import { bullPrefix, connectionOf, queueTelemetry, REGIONS_QUEUE, resultJobId, RESULTS_QUEUE, type QueueOptions } from './names.ts'
import { resultJobOptions } from './result-consumer.ts'
import { parseRegionJob, parseRegionReport, type RegionJob, type RegionJobProgress, type RegionResult } from './schema.ts'

export interface RegionWorkerOptions extends QueueOptions {
  readonly workerId: string
  readonly concurrency: number
  /**
   * Default 30 000. A worker that dies without closing (SIGKILL, lost node)
   * keeps its jobs until their locks expire; then the stalled-job check of
   * another worker puts them back in the wait list.
   */
  readonly lockDurationMs?: number
  /** How often this worker looks for stalled jobs. Default: lockDurationMs. */
  readonly stalledIntervalMs?: number
  /** How many times a job may be recovered from a dead worker before it fails. Default 2. */
  readonly maxStalledCount?: number
  /**
   * After a hand-back, how long close waits for the aborted handler calls to return, so
   * the caller can stop what they use (a libp2p host) only once nothing sends. Default 10 000.
   */
  readonly settleMs?: number
  /** Connection and job-level errors that do not belong to one handler call. Default: ignored. */
  readonly onError?: (error: Error) => void
}

export type RegionHandler = (job: RegionJob, context: { jobId: string; signal: AbortSignal }) => Promise<RegionReport>

export interface CloseOutcome {
  /** Jobs that ended on their own (reported or failed) while the worker was closing. */
  readonly finished: number
  /** Jobs aborted at the deadline and put back at the head of the wait list. */
  readonly handedBack: number
  /** Aborted handler calls still running when close gave up waiting for them (settleMs). */
  readonly unsettled: number
}

interface Running {
  readonly controller: AbortController
  handBack: boolean
  lockLost: boolean
}

class HandBack extends Error {}

/** Thrown by a handler, fails the job at once: BullMQ does not retry it. */
export { UnrecoverableError } from 'bullmq'

/**
 * Consumes region jobs. For each one: validate (invalid data fails the job
 * without retries and never reaches the handler), run the handler, publish a
 * RegionResult to the results queue, then let BullMQ complete the job. A
 * handler throw publishes a result with the error and fails the attempt, so
 * BullMQ retries it with the backoff set at enqueue time.
 *
 * Delivery is at least once: a worker that dies after publishing re-runs the
 * job elsewhere, and the re-published result has the same id, so it is dropped.
 */
export class RegionWorker {
  readonly #options: RegionWorkerOptions
  readonly #handler: RegionHandler
  readonly #worker: Worker
  readonly #results: Queue
  readonly #connection: ReturnType<typeof connectionOf>
  readonly #running = new Map<string, Running>()
  /** Handler calls not yet returned: an aborted job leaves #running at once, its handler may take a moment more. */
  readonly #handlers = new Set<Promise<unknown>>()
  #closing: Promise<CloseOutcome> | undefined
  #deadlinePassed = false
  #finishedWhileClosing = 0
  #handedBack = 0

  constructor(options: RegionWorkerOptions, handler: RegionHandler) {
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
      throw new Error(`concurrency: expected an integer ≥ 1, got ${options.concurrency}`)
    }
    if (typeof options.workerId !== 'string' || options.workerId === '') throw new Error('workerId: must be a non-empty string')
    this.#options = options
    this.#handler = handler
    this.#connection = connectionOf(options)
    const { connection } = this.#connection
    const prefix = bullPrefix(options.namespace)
    const lockDuration = options.lockDurationMs ?? 30_000
    this.#results = new Queue(RESULTS_QUEUE, { connection, prefix, telemetry: queueTelemetry() })
    this.#results.on('error', (error) => this.#options.onError?.(error))
    this.#worker = new Worker(REGIONS_QUEUE, (job, token) => this.#process(job, token), {
      connection,
      prefix,
      telemetry: queueTelemetry(),
      name: options.workerId,
      concurrency: options.concurrency,
      lockDuration,
      stalledInterval: options.stalledIntervalMs ?? lockDuration,
      maxStalledCount: options.maxStalledCount ?? 2
    })
    this.#worker.on('error', (error) => this.#options.onError?.(error))
    // Another worker may already own a job whose lock we failed to renew: stop
    // working on it and publish nothing.
    this.#worker.on('lockRenewalFailed', (jobIds) => {
      for (const jobId of jobIds) {
        const running = this.#running.get(jobId)
        if (running === undefined || running.handBack) continue
        running.lockLost = true
        running.controller.abort(new Error(`lost the lock of job ${jobId}`))
      }
    })
  }

  get workerId(): string {
    return this.#options.workerId
  }

  /** Handler calls in flight. */
  get active(): number {
    return this.#running.size
  }

  /** Resolves once the worker is connected and taking jobs. */
  async ready(): Promise<void> {
    await this.#worker.waitUntilReady()
  }

  /**
   * Graceful stop: take no new jobs, let the running ones finish for up to
   * deadlineMs, then abort the rest (their signal fires) and move them back to
   * the head of the wait list (once their handler returned, within settleMs) with this worker's lock token, so another worker
   * starts them at once instead of after the lock expires. The attempt is not
   * counted and no result is published for a handed-back job.
   */
  close(deadlineMs: number): Promise<CloseOutcome> {
    this.#closing ??= this.#close(deadlineMs)
    return this.#closing
  }

  async #close(deadlineMs: number): Promise<CloseOutcome> {
    const timer = setTimeout(() => {
      this.#deadlinePassed = true
      for (const running of this.#running.values()) {
        if (running.lockLost) continue
        running.handBack = true
        running.controller.abort(new HandBack('worker is shutting down: job handed back'))
      }
    }, Math.max(0, deadlineMs))
    let unsettled: number
    try {
      await this.#worker.close()
      unsettled = await this.#settle(this.#options.settleMs ?? 10_000)
    } finally {
      clearTimeout(timer)
      await this.#results.close()
      await this.#connection.close()
    }
    return { finished: this.#finishedWhileClosing, handedBack: this.#handedBack, unsettled }
  }

  /** Waits up to ms for every handler call to return; how many still run after that. */
  async #settle(ms: number): Promise<number> {
    if (this.#handlers.size > 0) await settledWithin(Promise.all(this.#handlers), ms)
    return this.#handlers.size
  }

  async #process(job: Job, token: string | undefined): Promise<void> {
    const jobId = job.id
    if (jobId === undefined) throw new UnrecoverableError('region job has no id')
    let data: RegionJob
    try {
      data = parseRegionJob(job.data)
    } catch (error) {
      throw new UnrecoverableError((error as Error).message)
    }
    const running: Running = { controller: new AbortController(), handBack: false, lockLost: false }
    this.#running.set(jobId, running)
    let outcome: 'finished' | 'handed-back' = 'finished'
    let call: Promise<RegionReport> | undefined
    try {
      if (this.#deadlinePassed) {
        running.handBack = true
        throw new HandBack('worker is shutting down: job handed back')
      }
      await job.updateProgress({ keysReadFrom: await this.#redisMicros() } satisfies RegionJobProgress)
      call = this.#track(this.#handler(data, { jobId, signal: running.controller.signal }))
      const returned = await untilAborted(call, running.controller.signal)
      // A malformed report counts as a handler error here, where it can still be retried.
      const report = parseRegionReport(returned)
      await this.#publish(jobId, job, data, { report }, false)
    } catch (error) {
      if (running.handBack) {
        outcome = 'handed-back'
        // the next worker starts only once this run stopped sending (or settleMs passed): never two at once
        if (call !== undefined) await settledWithin(call, this.#options.settleMs ?? 10_000)
        await job.moveToWait(token)
        // Tells BullMQ the job has moved on: no completion, no failure.
        throw new WaitingError()
      }
      if (!running.lockLost) {
        const retrying = !(error instanceof UnrecoverableError) && job.attemptsMade + 1 < (job.opts.attempts ?? 1)
        await this.#publish(jobId, job, data, { error: messageOf(error) }, retrying)
      }
      throw error
    } finally {
      this.#running.delete(jobId)
      if (outcome === 'handed-back') this.#handedBack++
      else if (this.#closing !== undefined) this.#finishedWhileClosing++
    }
  }

  /** Redis' clock, which also dates dirty marks: the two compare on any machine. */
  async #redisMicros(): Promise<number> {
    // BullMQ types its client by the few commands it needs; on its Redis backend it is ioredis
    const client = await this.#worker.getBackend().client as unknown as Pick<Redis, 'time'>
    const [seconds, micros] = await client.time()
    return Number(seconds) * 1e6 + Number(micros)
  }

  #track<T>(call: Promise<T>): Promise<T> {
    const settled = call.then(() => undefined, () => undefined)
    this.#handlers.add(settled)
    void settled.then(() => this.#handlers.delete(settled))
    return call
  }

  async #publish(jobId: string, job: Job, data: RegionJob, outcome: { report: RegionReport } | { error: string }, retrying: boolean): Promise<void> {
    const result: RegionResult = {
      jobId,
      job: data,
      worker: this.#options.workerId,
      ...outcome,
      finishedAt: Date.now(),
      attemptsMade: job.attemptsMade,
      retrying
    }
    await this.#results.add('result', result, { ...resultJobOptions, jobId: resultJobId(jobId, job.timestamp, job.attemptsMade) })
  }
}

/** The handler's promise, or a rejection as soon as the signal fires, whichever is first. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    work.then(
      (value) => { signal.removeEventListener('abort', onAbort); resolve(value) },
      (error: unknown) => { signal.removeEventListener('abort', onAbort); reject(error) }
    )
  })
}

/** Waits for work to settle, either way, but no longer than ms. */
async function settledWithin(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  await Promise.race([
    work.then(() => undefined, () => undefined),
    new Promise((resolve) => { timer = setTimeout(resolve, ms) })
  ])
  clearTimeout(timer)
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
