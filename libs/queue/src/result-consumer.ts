import { UnrecoverableError, Worker, type JobsOptions } from 'bullmq'
import { bullPrefix, connectionOf, queueTelemetry, RESULTS_QUEUE, type QueueOptions } from './names.ts'
import { parseRegionResult, type RegionResult } from './schema.ts'

/**
 * Result jobs: a failing coordinator handler (Redis hiccup) is retried a few
 * times; consumed results stay an hour so a late duplicate publish of the same
 * result id is still recognised and dropped.
 */
export const resultJobOptions: JobsOptions = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 500 },
  removeOnComplete: { age: 3600 },
  removeOnFail: { age: 7 * 24 * 3600 }
}

export interface ResultConsumerOptions extends QueueOptions {
  readonly onError?: (error: Error) => void
  /** Called when a result fails to parse or the handler throws; the result job fails (and is retried when the handler threw). */
  readonly onFailed?: (jobId: string, error: Error) => void
}

/** Reads region results one at a time, in queue order. Used by the coordinator. */
export class ResultConsumer {
  readonly #worker: Worker
  readonly #connection: ReturnType<typeof connectionOf>

  constructor(options: ResultConsumerOptions, handler: (result: RegionResult) => Promise<void>) {
    this.#connection = connectionOf(options)
    this.#worker = new Worker(RESULTS_QUEUE, async (job) => {
      let result: RegionResult
      try {
        result = parseRegionResult(job.data)
      } catch (error) {
        throw new UnrecoverableError((error as Error).message)
      }
      await handler(result)
    }, { connection: this.#connection.connection, prefix: bullPrefix(options.namespace), telemetry: queueTelemetry(), concurrency: 1 })
    this.#worker.on('error', (error) => options.onError?.(error))
    this.#worker.on('failed', (job, error) => options.onFailed?.(job?.id ?? '?', error))
  }

  async ready(): Promise<void> {
    await this.#worker.waitUntilReady()
  }

  /** Waits for the result being handled, then stops. */
  async close(): Promise<void> {
    await this.#worker.close()
    await this.#connection.close()
  }
}
