/**
 * A provide request's trace runs on into the burst job it causes, through the real API
 * server, Redis, scheduler and BullMQ: the job's span is a child of one request's server
 * span and links to every request merged into it; a mark the leader takes before its keys'
 * dirty marks waits for them; an unsampled request writes no marks at all.
 */
import { randomBytes } from 'node:crypto'
import pino from 'pino'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { create as createDigest } from 'multiformats/hashes/digest'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { kadKeyOf } from '@sweep/keyspace'
import { RegionQueue } from '@sweep/queue'
import { storeKeys } from '@sweep/store'
import { InMemorySpanExporter, initTracing, type ReadableSpan, type Tracing } from '@sweep/telemetry'
import { defaultResweep, defaultRetry, Scheduler } from '../src/index.ts'
import { startTestApi, startTestRedis, type TestApi, type TestRedis } from './api-fixture.ts'
import { createMetrics } from '@sweep/telemetry'

const NAMESPACE = 'request-links'
const exporter = new InMemorySpanExporter()
let redis: TestRedis
let tracing: Tracing
let apiServer: TestApi
let queue: RegionQueue

beforeAll(async () => {
  redis = await startTestRedis('request-links')
  tracing = initTracing('request-links-test', { exporter })
  apiServer = await startTestApi(redis.server.url, { namespace: NAMESPACE })
  queue = new RegionQueue({ redisUrl: redis.server.url, namespace: NAMESPACE })
})
afterAll(async () => {
  await queue?.close()
  await apiServer?.close()
  await tracing?.shutdown()
  await redis?.stop()
})

/** CIDs whose kad keys start with the given bit: all in region '0' or region '1'. */
function cidsOfRegion(bit: '0' | '1', count: number): string[] {
  const out: string[] = []
  while (out.length < count) {
    const digest = createDigest(0x12, randomBytes(32))
    if ((kadKeyOf(digest.bytes)[0] >> 7) === Number(bit)) out.push(CID.createV1(raw.code, digest).toString())
  }
  return out
}

/** A caller's traceparent of a fresh trace, sampled or not. */
function traceparent(sampled: boolean): string {
  return `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-${sampled ? '01' : '00'}`
}

async function provide(cids: readonly string[], parent: string): Promise<void> {
  const res = await fetch(`${apiServer.url}/v1/provide`, { method: 'POST', headers: { 'content-type': 'text/plain', traceparent: parent }, body: cids.join('\n') })
  expect(res.status).toBe(200)
  await res.arrayBuffer()
}

async function spans(): Promise<ReadableSpan[]> {
  await tracing.flush()
  return exporter.getFinishedSpans()
}

it('parents a burst job on a request, links it to every request merged into it, and holds a mark that came early', async () => {
  const { schedule, keystore } = apiServer
  await schedule.setNetwork({ size: 40, prefixLength: 1, measuredAt: Date.now(), by: 'test' })
  const fence = (await apiServer.lease.acquire())!
  const scheduler = new Scheduler({
    schedule, queue, fence, metrics: createMetrics('coordinator'), tracer: tracing.tracer, log: pino({ level: 'silent' }),
    intervalMs: 22 * 3600_000, self: kadKeyOf(new TextEncoder().encode(NAMESPACE)), retry: defaultRetry, resweep: defaultResweep,
    inflightTimeoutMs: 60_000, countKeys: (prefix) => keystore.count(prefix)
  })
  // both regions provided just now: no reprovide is due, so each burst job is the region's only job
  const fresh = { failures: 0, keys: 0, peers: 20, recordsSent: 0, lookups: 1, durationMs: 1, lastReprovide: Date.now(), lastAttempt: Date.now() }
  await schedule.replaceRegions([], [{ prefix: '0', ...fresh }, { prefix: '1', ...fresh }], fence)
  await scheduler.init(new AbortController().signal)
  const traceMarks = (): Promise<number> => apiServer.redis.hlen(storeKeys(NAMESPACE).dirtyTraces)

  // an unsampled caller costs no marks
  await provide(cidsOfRegion('0', 5), traceparent(false))
  expect(await traceMarks()).toBe(0)
  await scheduler.tick()

  // three sampled requests before the leader's next flush: one job, linked to all three
  const callers = [traceparent(true), traceparent(true), traceparent(true)]
  await Promise.all(callers.map((caller) => provide(cidsOfRegion('1', 20), caller)))
  expect(await traceMarks()).toBeGreaterThan(0)
  await scheduler.tick()
  expect(await traceMarks()).toBe(0)
  const requestSpans = (await spans()).filter((s) => s.name === 'POST /v1/provide' && callers.some((c) => c.includes(s.parentSpanContext?.spanId ?? '-')))
  expect(requestSpans).toHaveLength(3)
  const jobSpans = (await spans()).filter((s) => s.name === 'region.provide' && s.attributes['sweep.prefix'] === '1')
  expect(jobSpans).toHaveLength(1)
  const [job] = jobSpans
  expect(job.attributes['sweep.outcome']).toBe('queued')
  expect(new Set(job.links.map((l) => l.context.spanId))).toEqual(new Set(requestSpans.map((s) => s.spanContext().spanId)))
  expect(requestSpans.map((s) => s.spanContext().spanId)).toContain(job.parentSpanContext?.spanId)
  expect(job.spanContext().traceId).toBe(requestSpans.find((s) => s.spanContext().spanId === job.parentSpanContext?.spanId)!.spanContext().traceId)
  // BullMQ's add, which carries the trace to the worker, is the job span's child
  const add = (await spans()).find((s) => s.name === 'add regions.provide' && s.parentSpanContext?.spanId === job.spanContext().spanId)
  expect(add).toBeDefined()

  // a mark the leader takes before its keys are marked dirty waits for them
  const early = traceparent(true)
  await schedule.markTraces(['0'], early)
  await provide(cidsOfRegion('1', 3), traceparent(false))
  await scheduler.tick()
  await keystore.addCount(cidsOfRegion('0', 3).map((cid) => CID.parse(cid).multihash.bytes), { markDirty: true })
  await scheduler.tick()
  const zero = (await spans()).filter((s) => s.name === 'region.provide' && s.attributes['sweep.prefix'] === '0').at(-1)!
  expect(zero.links.map((l) => l.context.spanId)).toEqual([early.split('-')[2]])
  expect(zero.parentSpanContext?.spanId).toBe(early.split('-')[2])
}, 60_000)
