import { hostname } from 'node:os'
import { randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import { kadKeyOf } from '@sweep/keyspace'
import { DEFAULT_JOB_TIMEOUT_MS, RegionQueue, ResultConsumer } from '@sweep/queue'
import { connectRedis, LeaderLease, openKeystore, redisMemory, ScheduleStore, subscribeDirtyWake, waitForRedis, type DirtyWakeSubscription, type Fence } from '@sweep/store'
import { createMetrics, initTracing, startOpsServer, type OpsServer } from '@sweep/telemetry'
import { assertSafeListen } from './api/request-guard.ts'
import { startApiServer } from './api/server.ts'
import { watchKeystoreGrowth } from './keystore-growth.ts'
import { IdleMemoryRelease } from './memory-release.ts'
import { defaultRetry, oldestRegionAgeS, type RetryPolicy } from './history.ts'
import { defaultResweep, type ResweepPolicy } from './resweep.ts'
import { Scheduler } from './scheduler.ts'
import { cycleProgress } from './views.ts'
import { Wakeup } from './wakeup.ts'

export interface CoordinatorConfig {
  readonly redisUrl: string
  readonly namespace: string
  readonly api: { readonly host: string; readonly port: number }
  readonly metrics: { readonly host: string; readonly port: number }
  readonly intervalMs: number
  readonly apiToken?: string
  /** Serve the API without a token on an address other machines can reach. */
  readonly insecureNoToken?: boolean
  readonly maxBodyBytes: number
  readonly id?: string
  readonly leaseTtlMs: number
  readonly tickMs: number
  readonly k: number
  readonly retry: RetryPolicy
  readonly resweep: ResweepPolicy
  readonly inflightTimeoutMs: number
  /** How long a worker may run one region job before it gives up and the region is retried. */
  readonly jobTimeoutMs: number
  /**
   * Keystore buckets of a namespace created now (Keystore bucketBits); an existing keystore
   * with fewer is re-bucketed to this many by the leader, one with more keeps its own.
   */
  readonly bucketBits?: number
  /**
   * Shards of a keystore created now (a power of two; see ShardedKeystore): default 1 on one
   * Redis, 64 on a Redis Cluster, where they spread the set over the masters.
   */
  readonly keystoreShards?: number
  /** How often the leader checks whether the keystore outgrew its buckets (default 30 s). */
  readonly keystoreCheckMs?: number
  /** After a re-bucketing's switch, how long late writes to the old buckets get (default 10 s). */
  readonly rebucketDrainMs?: number
}

/**
 * How often a coordinator looks for adds that died between storing keys and marking them
 * (see Keystore.repairUnsettledAdds): their keys wait for this plus the writer expiry (5 s).
 */
const REPAIR_EVERY_MS = 2000

export const defaultCoordinatorConfig: Omit<CoordinatorConfig, 'redisUrl'> = {
  namespace: 'sweep',
  api: { host: '127.0.0.1', port: 8080 },
  metrics: { host: '127.0.0.1', port: 9464 },
  intervalMs: 22 * 3_600_000,
  maxBodyBytes: 64 * 1024 * 1024,
  leaseTtlMs: 5000,
  tickMs: 1000,
  k: 20,
  retry: defaultRetry,
  resweep: defaultResweep,
  inflightTimeoutMs: 30 * 60_000,
  jobTimeoutMs: DEFAULT_JOB_TIMEOUT_MS
}

export interface Coordinator {
  readonly id: string
  readonly apiUrl: string
  readonly metricsUrl: string
  isLeader(): boolean
  stop(): Promise<void>
}

/**
 * One coordinator process: serves the API always, schedules only while it holds the
 * leader lease. A standby stays warm and takes over when the leader's lease lapses.
 */
export async function startCoordinator(config: CoordinatorConfig, log: Logger): Promise<Coordinator> {
  assertSafeListen(config.api.host, config.apiToken, config.insecureNoToken === true)
  const id = config.id ?? `coordinator-${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`
  const redis = connectRedis(config.redisUrl, { name: id })
  await waitForRedis(redis, config.redisUrl)
  const keystore = await openKeystore(redis, { namespace: config.namespace, bucketBits: config.bucketBits, shards: config.keystoreShards })
  for (const warning of keystore.warnings) log.warn(warning)
  const schedule = new ScheduleStore(redis, config.namespace, { keystoreShards: keystore.shards.length })
  const repairAdds = async (): Promise<void> => {
    try {
      const repair = await keystore.repairUnsettledAdds()
      if (repair.repaired > 0) {
        log.warn({ adds: repair.repaired }, 'found adds that died between storing keys and marking them; their buckets are marked for a provide')
        await schedule.announceDirty()
      }
      if (repair.total !== undefined) log.info({ total: repair.total }, 'recounted the keystore total')
    } catch (error) {
      log.warn({ err: error }, 'repairing unsettled adds failed')
    }
  }
  // a previous process may have been killed mid-add: repair before serving, then keep
  // looking, for adds of other coordinators and for ones whose writer was still alive now
  await repairAdds()
  const repairs = setInterval(() => void repairAdds(), REPAIR_EVERY_MS)
  // before the queue: BullMQ's telemetry takes its tracer from the globals this registers
  const tracing = initTracing('sweep-coordinator')
  const queue = new RegionQueue({ redisUrl: config.redisUrl, namespace: config.namespace, jobTimeoutMs: config.jobTimeoutMs })
  const lease = new LeaderLease(redis, { namespace: config.namespace, id, ttlMs: config.leaseTtlMs })
  const metrics = createMetrics('coordinator')
  // slots are spread in XOR order from a point fixed per deployment
  const self = kadKeyOf(new TextEncoder().encode(`sweep-schedule:${config.namespace}`))

  const memory = new IdleMemoryRelease({
    onRelease: ({ bytes, rssBefore, rssAfter, pauseMs }) => log.info({
      requestMiB: Math.round(bytes / 2 ** 20), rssMiBBefore: Math.round(rssBefore / 2 ** 20), rssMiBAfter: Math.round(rssAfter / 2 ** 20), pauseMs: Math.round(pauseMs)
    }, 'released memory after an import or a re-bucketing'),
    onError: (error) => log.warn({ err: error }, 'a full collection after an import or a re-bucketing failed; memory stays at its high-water mark')
  })
  const leadership = new AbortController()
  let leading: {
    scheduler: Scheduler; consumer: ResultConsumer; loop: Promise<void>; growth: Promise<void>; stop: AbortController; wake?: DirtyWakeSubscription
  } | undefined
  const elected = async (fence: Fence): Promise<void> => {
    log.info({ id, token: fence.token }, 'elected leader')
    metrics.isLeader.set(1)
    const stop = new AbortController()
    const scheduler = new Scheduler({
      schedule, queue, metrics, tracer: tracing.tracer, log, fence, intervalMs: config.intervalMs, self,
      retry: config.retry, resweep: config.resweep, inflightTimeoutMs: config.inflightTimeoutMs, countKeys: (prefix) => keystore.count(prefix)
    })
    const consumer = new ResultConsumer({ redisUrl: config.redisUrl, namespace: config.namespace }, (result) => scheduler.onResult(result))
    // Any coordinator's API announces new dirty marks; the leader schedules them at once.
    // Without the subscription the tick still finds them, only later.
    const wakeup = new Wakeup()
    const wake = subscribeDirtyWake(redis, () => wakeup.wake(), config.namespace, (error) => {
      log.warn({ err: error }, 'subscribing to dirty-key wakeups failed; new keys wait for the tick')
    })
    const growth = watchKeystoreGrowth({
      keystore, log, checkEveryMs: config.keystoreCheckMs, drainMs: config.rebucketDrainMs, onRebucketed: (bytes) => memory.noteWork(bytes)
    }, stop.signal)
    leading = { scheduler, consumer, stop, wake, growth, loop: runLoop(scheduler, config.tickMs, stop.signal, log, wakeup) }
  }
  const lost = async (): Promise<void> => {
    metrics.isLeader.set(0)
    if (!leading) return
    log.warn({ id }, 'lost the leader lease; scheduling stops')
    const was = leading
    leading = undefined
    was.stop.abort()
    await was.wake?.close()
    await was.consumer.close()
    await was.loop
    await was.growth
  }
  const held = lease.hold({ onElected: elected, onLost: lost }, leadership.signal)

  const api = await startApiServer({
    keystore, schedule, queue, lease, log, token: config.apiToken, maxBodyBytes: config.maxBodyBytes,
    intervalMs: config.intervalMs, self, k: config.k, onRequestRead: (bytes) => memory.noteRequest(bytes),
    onKeysAdded: (added) => metrics.keysAdded.inc(added)
  }, config.api.host, config.api.port)
  const ops: OpsServer = await startOpsServer({
    host: config.metrics.host, port: config.metrics.port, registry: metrics.registry,
    ready: async () => (await redis.ping()) === 'PONG'
  })
  metrics.interval.set(config.intervalMs / 1000)
  const gauges = setInterval(() => void refreshGauges(), 5000)
  const refreshGauges = async (): Promise<void> => {
    try {
      metrics.keys.set(await keystore.total())
      const counts = await queue.counts()
      for (const [state, n] of Object.entries(counts)) metrics.queueJobs.set({ state }, n)
      metrics.workers.set((await schedule.workers()).length)
      const [regions, cycleStart, now] = [await schedule.regions(), await schedule.cycleStart(), Date.now()]
      metrics.oldestRegionAge.set(oldestRegionAgeS(regions, cycleStart, now))
      if (cycleStart !== undefined) {
        const { offsetMs, done } = cycleProgress(regions.values(), { cycleStart, intervalMs: config.intervalMs, self }, now)
        metrics.cycleOffset.set(offsetMs / 1000)
        metrics.cycleRegionsDone.set(done.length)
      }
      metrics.redisMemory.set((await redisMemory(redis)).used)
    } catch (error) {
      log.warn({ err: error }, 'refreshing gauges failed')
    }
  }
  log.info({ id, api: api.url, metrics: ops.url }, 'coordinator started')

  return {
    id,
    apiUrl: api.url,
    metricsUrl: ops.url,
    isLeader: () => leading !== undefined,
    stop: async () => {
      clearInterval(gauges)
      clearInterval(repairs)
      leadership.abort()
      await held
      await lost()
      // drains requests under way, whose adds need Redis to settle: Redis closes after it
      await api.close()
      memory.stop()
      await ops.close()
      await queue.close()
      await tracing.shutdown()
      redis.disconnect()
      log.info({ id }, 'coordinator stopped')
    }
  }
}

async function runLoop(scheduler: Scheduler, tickMs: number, signal: AbortSignal, log: Logger, wakeup: Wakeup): Promise<void> {
  try {
    await scheduler.init(signal)
  } catch (error) {
    log.error({ err: error }, 'loading the schedule failed')
    return
  }
  while (!signal.aborted) {
    try {
      await scheduler.tick()
    } catch (error) {
      log.error({ err: error }, 'scheduling step failed')
    }
    await wakeup.sleep(tickMs, signal)
  }
}
