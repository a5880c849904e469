/**
 * New keys for a region whose job is running, through the real scheduler, BullMQ and
 * Redis: merged into the run when it began reading keys after they were marked, run
 * again after it when they came later. Before, every such region ran twice, and a
 * whole region's records went out twice (a CI run sent 310k records for 160k).
 */
import { randomBytes } from 'node:crypto'
import pino from 'pino'
import { create as createDigest } from 'multiformats/hashes/digest'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { kadKeyOf } from '@sweep/keyspace'
import { RegionQueue, RegionWorker, ResultConsumer, type RegionJob } from '@sweep/queue'
import { connectRedis, Keystore, LeaderLease, ScheduleStore, storeKeys } from '@sweep/store'
import { createMetrics, trace } from '@sweep/telemetry'
import type { Redis } from 'ioredis'
import { reportFor, waitFor } from '../../../libs/queue/test/helpers.ts'
import { defaultResweep, defaultRetry, Scheduler } from '../src/index.ts'
import { startTestRedis, type TestRedis } from './api-fixture.ts'

const NAMESPACE = 'burst-merge'
let redis: TestRedis
let client: Redis
const closers: Array<() => Promise<unknown>> = []

beforeAll(async () => {
  redis = await startTestRedis('burst-merge')
  client = connectRedis(redis.server.url)
})
afterAll(async () => {
  while (closers.length > 0) await closers.pop()!()
  client.disconnect()
  await redis.stop()
})

/** Fresh sha2-256 multihashes whose kad keys start with bit 0: all in region '0'. */
function keysOfRegionZero(count: number): Uint8Array[] {
  const keys: Uint8Array[] = []
  while (keys.length < count) {
    const multihash = createDigest(0x12, randomBytes(32)).bytes
    if (kadKeyOf(multihash)[0] < 0x80) keys.push(multihash)
  }
  return keys
}

it('merges new keys into a running job that began reading after their mark, and runs the region again for keys marked later', async () => {
  const keystore = await Keystore.open(client, { namespace: NAMESPACE, bucketBits: 4 })
  const schedule = new ScheduleStore(client, NAMESPACE)
  await schedule.setNetwork({ size: 40, prefixLength: 1, measuredAt: Date.now(), by: 'test' })
  const fence = (await new LeaderLease(client, { namespace: NAMESPACE, id: 'leader', ttlMs: 60_000 }).acquire())!
  const queue = new RegionQueue({ redisUrl: redis.server.url, namespace: NAMESPACE })
  closers.push(() => queue.close())
  const scheduler = new Scheduler({
    schedule, queue, fence, metrics: createMetrics('coordinator'), tracer: trace.getTracer('test'), log: pino({ level: 'silent' }),
    intervalMs: 22 * 3600_000, self: kadKeyOf(new TextEncoder().encode('burst-merge')), retry: defaultRetry, resweep: defaultResweep,
    inflightTimeoutMs: 60_000, countKeys: (prefix) => keystore.count(prefix)
  })
  await scheduler.init(new AbortController().signal)
  const consumer = new ResultConsumer({ redisUrl: redis.server.url, namespace: NAMESPACE }, (result) => scheduler.onResult(result))
  closers.push(() => consumer.close())
  const marked = async (): Promise<string[]> => client.hkeys(storeKeys(NAMESPACE).dirty)

  // the region's provide job is queued, and more keys come before a worker takes it
  await keystore.addCount(keysOfRegionZero(10), { markDirty: true })
  await scheduler.tick()
  await keystore.addCount(keysOfRegionZero(10), { markDirty: true })

  let release!: () => void
  const gate = new Promise<void>((resolve) => { release = resolve })
  const ran: RegionJob[] = []
  const worker = new RegionWorker({ redisUrl: redis.server.url, namespace: NAMESPACE, workerId: 'w1', concurrency: 2 }, async (job) => {
    ran.push(job)
    if (ran.filter((j) => j.prefix === '0').length === 1 && job.prefix === '0') await gate
    return reportFor(job.prefix)
  })
  closers.push(() => worker.close(0))
  await waitFor(() => ran.some((j) => j.prefix === '0'), 10_000, 'the provide job of region 0 to start')
  const runsOfZero = (): RegionJob[] => ran.filter((j) => j.prefix === '0')

  // the run began reading keys after those keys were marked: it has them, nothing waits
  await scheduler.tick()
  expect(await marked()).toEqual([])

  // these come after the run began reading: the region waits for it, then runs again
  await keystore.addCount(keysOfRegionZero(10), { markDirty: true })
  await scheduler.tick()
  expect(await marked()).toEqual(['0'])
  release()
  await waitFor(async () => { await scheduler.tick(); return runsOfZero().length === 2 }, 10_000, 'region 0 to run again')
  expect(runsOfZero().map((j) => j.reason)).toEqual(['provide', 'provide'])

  // and only once more: with its result in, nothing is left to run
  await waitFor(async () => (await queue.counts()).active === 0, 10_000, 'the second run to finish')
  for (let i = 0; i < 5; i++) await scheduler.tick()
  await new Promise((resolve) => setTimeout(resolve, 300))
  expect(runsOfZero()).toHaveLength(2)
  expect(await marked()).toEqual([])
}, 60_000)
