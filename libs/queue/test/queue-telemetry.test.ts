/**
 * A job's trace crosses both queues through BullMQ's own telemetry (bullmq-otel): the
 * producer's span → BullMQ's add → the worker's process span, where the handler runs →
 * the add of its result → the consumer's process span, where the result is handled.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { InMemorySpanExporter, initTracing, inSpan, trace, type ReadableSpan, type Tracing } from '@sweep/telemetry'
import { RegionQueue, RegionWorker, ResultConsumer } from '../src/index.ts'
import { freshNamespace, regionJob, reportFor, startTestRedis, waitFor, type TestRedis } from './helpers.ts'

let redis: TestRedis
let tracing: Tracing
const exporter = new InMemorySpanExporter()

beforeAll(async () => {
  redis = await startTestRedis()
  tracing = initTracing('queue-telemetry-test', { exporter })
})
afterAll(async () => {
  await tracing.shutdown()
  await redis.stop()
})

it('carries the trace from the enqueue through the worker\'s handler to the result\'s handler', async () => {
  const namespace = freshNamespace()
  // built after initTracing: BullMQ's telemetry takes its tracer from the globals
  const queue = new RegionQueue({ redisUrl: redis.url, namespace })
  const seenInHandler: string[] = []
  const seenInResult: string[] = []
  const worker = new RegionWorker({ redisUrl: redis.url, namespace, workerId: 'w1', concurrency: 1 }, async (job) => {
    seenInHandler.push(trace.getActiveSpan()?.spanContext().traceId ?? 'none')
    return reportFor(job.prefix)
  })
  const consumer = new ResultConsumer({ redisUrl: redis.url, namespace }, async () => {
    seenInResult.push(trace.getActiveSpan()?.spanContext().traceId ?? 'none')
  })
  try {
    const traceId = await inSpan(tracing.tracer, 'enqueue', {}, async (span) => {
      await queue.enqueue(regionJob('0101'))
      return span.spanContext().traceId
    })
    await waitFor(() => seenInResult.length === 1, 10_000, 'the result to be handled')
    expect(seenInHandler).toEqual([traceId])
    expect(seenInResult).toEqual([traceId])

    await tracing.flush()
    const spans = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId)
    const named = (name: string): ReadableSpan => {
      const found = spans.filter((s) => s.name === name)
      expect(found, name).toHaveLength(1)
      return found[0]
    }
    const parentOf = (span: ReadableSpan): string | undefined => span.parentSpanContext?.spanId
    const enqueue = named('enqueue')
    const add = named('add regions.reprovide')
    const process = named('process regions')
    const addResult = named('add results.result')
    const processResult = named('process results')
    expect(parentOf(add)).toBe(enqueue.spanContext().spanId)
    expect(parentOf(process)).toBe(add.spanContext().spanId)
    expect(parentOf(addResult)).toBe(process.spanContext().spanId)
    expect(parentOf(processResult)).toBe(addResult.spanContext().spanId)
  } finally {
    await worker.close(0)
    await consumer.close()
    await queue.close()
  }
})
