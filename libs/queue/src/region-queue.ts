import { Queue, type JobsOptions } from 'bullmq'
import type { Prefix } from '@sweep/keyspace'
import { bullPrefix, connectionOf, provideJobId, queueTelemetry, regionJobId, REGIONS_QUEUE, type QueueOptions } from './names.ts'
import { parseRegionJob, type RegionJob, type RegionJobProgress, type RegionReason } from './schema.ts'

export interface RegionQueueOptions extends QueueOptions {
  /** BullMQ attempts per job (a handler throw is retried until these run out). Default 3. */
  readonly attempts?: number
  /** Base of the exponential backoff between attempts. Default 5000 ms. */
  readonly backoffMs?: number
  /**
   * How long finished reprovide-lane jobs are kept. Their ids are what makes a
   * re-enqueue of the same region, cycle and attempt a no-op, so keep them for
   * longer than a cycle. Default 26 h.
   */
  readonly keepFinishedMs?: number
  /** Stamped on every job as its timeoutMs: how long a worker may run it. Default 20 min. */
  readonly jobTimeoutMs?: number
}

export type ProvideRequest = 'queued' | 'merged' | 'busy'

/** A region job a worker is running now. */
export interface RunningJob {
  readonly jobId: string
  readonly prefix: Prefix
  readonly reason: RegionReason
  /** The id of the worker running it (BullMQ's processedBy, the worker's name). */
  readonly worker: string | null
  /** ms since the epoch when this run began. */
  readonly startedAt: number | null
}

export interface QueueCounts {
  readonly waiting: number
  readonly active: number
  readonly delayed: number
  readonly prioritized: number
  readonly failed: number
  readonly completed: number
}

const DEFAULT_KEEP_FINISHED_MS = 26 * 3600_000
export const DEFAULT_JOB_TIMEOUT_MS = 20 * 60_000

/** Producer side of the region-job queue, used by the coordinator. */
export class RegionQueue {
  readonly #queue: Queue
  readonly #connection: ReturnType<typeof connectionOf>
  readonly #jobOptions: JobsOptions
  readonly #jobTimeoutMs: number

  constructor(options: RegionQueueOptions) {
    this.#connection = connectionOf(options)
    this.#queue = new Queue(REGIONS_QUEUE, { connection: this.#connection.connection, prefix: bullPrefix(options.namespace), telemetry: queueTelemetry() })
    this.#queue.on('error', () => { /* ioredis reconnects on its own; calls reject while it is down */ })
    this.#jobTimeoutMs = options.jobTimeoutMs ?? DEFAULT_JOB_TIMEOUT_MS
    const keepSeconds = Math.ceil((options.keepFinishedMs ?? DEFAULT_KEEP_FINISHED_MS) / 1000)
    this.#jobOptions = {
      attempts: options.attempts ?? 3,
      backoff: { type: 'exponential', delay: options.backoffMs ?? 5000 },
      removeOnComplete: { age: keepSeconds },
      removeOnFail: { age: keepSeconds }
    }
  }

  /**
   * Adds a region job; returns false when a job with its id (same lane, prefix,
   * cycle and attempt) already exists in any state, in which case nothing changes.
   * A job with reason 'provide' goes to the head of the line like requestProvide's.
   */
  async enqueue(job: RegionJob, options: { delayMs?: number } = {}): Promise<boolean> {
    const data = parseRegionJob({ timeoutMs: this.#jobTimeoutMs, ...job })
    const jobId = regionJobId(data)
    // BullMQ's add is itself idempotent per id but does not say whether it added;
    // only the leader enqueues, so a check-then-add race is not expected.
    if (await this.#exists(jobId)) return false
    await this.#queue.add(data.reason, data, {
      ...this.#jobOptions,
      jobId,
      lifo: data.reason === 'provide',
      ...(options.delayMs !== undefined && options.delayMs > 0 ? { delay: Math.round(options.delayMs) } : {})
    })
    return true
  }

  /**
   * Burst lane for new keys: at most one job per region, run before any queued
   * reprovide. It is LIFO in the wait list rather than a BullMQ priority so that
   * every ready job stays in the one wait LIST that autoscaling reads.
   *
   * The caller stores the new keys first, then asks:
   * - 'merged': a provide job for the region has not started, and will read them;
   * - 'busy': one is running and may have read the keys already; keep the region
   *   dirty and ask again later;
   * - 'queued': a new job was added.
   */
  async requestProvide(prefix: Prefix, cycle = 0): Promise<ProvideRequest> {
    const jobId = provideJobId(prefix)
    const state = await this.#queue.getJobState(jobId)
    if (state === 'waiting' || state === 'delayed' || state === 'prioritized' || state === 'waiting-children') return 'merged'
    if (state === 'active') return 'busy'
    if (state === 'completed' || state === 'failed') await this.#queue.remove(jobId)
    const data = parseRegionJob({
      prefix, reason: 'provide', attempt: 0, cycle, enqueuedAt: Date.now(), timeoutMs: this.#jobTimeoutMs
    })
    await this.#queue.add('provide', data, {
      ...this.#jobOptions,
      jobId,
      lifo: true,
      // Finished provide jobs go away at once so they never block the next request.
      removeOnComplete: true,
      removeOnFail: true
    })
    return 'queued'
  }

  async counts(): Promise<QueueCounts> {
    const counts = await this.#queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed')
    return {
      waiting: counts.waiting ?? 0,
      active: counts.active ?? 0,
      delayed: counts.delayed ?? 0,
      prioritized: counts.prioritized ?? 0,
      failed: counts.failed ?? 0,
      completed: counts.completed ?? 0
    }
  }

  /** The jobs workers are running, the first `limit` of them, each with its worker and start. */
  async running(limit = 1000): Promise<RunningJob[]> {
    const jobs = await this.#queue.getActive(0, limit - 1)
    return jobs.flatMap((job): RunningJob[] => {
      // a job that fails validation is failed by the worker that took it: nothing runs there
      try {
        const data = parseRegionJob(job.data)
        return [{ jobId: job.id ?? '', prefix: data.prefix, reason: data.reason, worker: job.processedBy ?? null, startedAt: job.processedOn ?? null }]
      } catch {
        return []
      }
    })
  }

  /** When the job's current run began reading its region's keys (see RegionJobProgress), if it has. */
  async keysReadFrom(jobId: string): Promise<number | undefined> {
    const progress = (await this.#queue.getJob(jobId))?.progress
    const at = typeof progress === 'object' && progress !== null ? (progress as Partial<RegionJobProgress>).keysReadFrom : undefined
    return typeof at === 'number' ? at : undefined
  }

  /** State of one job by id ('unknown' when there is none). */
  async state(jobId: string): Promise<string> {
    return this.#queue.getJobState(jobId)
  }

  async close(): Promise<void> {
    await this.#queue.close()
    await this.#connection.close()
  }

  async #exists(jobId: string): Promise<boolean> {
    return (await this.#queue.getJobState(jobId)) !== 'unknown'
  }
}
