import { hostname } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import { randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import { createSweepHost, loadIdentity, type PrivateAddrPolicy, type SweepHost } from '@sweep/dht'
import { DEFAULT_JOB_TIMEOUT_MS, MAX_DEAD_PEERS, RegionWorker, type CloseOutcome, type RegionJob } from '@sweep/queue'
import { connectRedis, KeystoreMissingError, openKeystore, ScheduleStore, waitForRedis, type AnyKeystore, type NetworkInfo } from '@sweep/store'
import { context, createMetrics, initTracing, startOpsServer, trace } from '@sweep/telemetry'
import { sampleNetwork, Sweeper, systemClock, type RegionReport, type SweepConfig } from '@sweep/sweep'
import { CheckpointingSender, JobCheckpoint } from './checkpoint.ts'
import { OnceTracker } from './once.ts'
import { tracedKeys, tracedRouter, tracedSender } from './port-spans.ts'
import { PortTimings } from './timing.ts'

export interface WorkerConfig {
  readonly redisUrl: string
  readonly namespace: string
  readonly bootstrap: readonly string[]
  /** The DHT's kad protocol id; Amino's by default. */
  readonly protocol?: string
  readonly identityFile: string
  readonly announce?: readonly string[]
  readonly listen: readonly string[]
  /** Whether to dial private and loopback addresses that DHT peers hand out; default `auto`. */
  readonly privateAddrs?: PrivateAddrPolicy
  readonly concurrency: number
  readonly metrics: { readonly host: string; readonly port: number }
  readonly id?: string
  /** On SIGTERM, active jobs get this long to finish before they are handed back. */
  readonly shutdownGraceMs: number
  readonly lockDurationMs: number
  readonly heartbeatMs: number
  /** A network estimate in Redis younger than this is used at start, and re-measured in the background. */
  readonly networkEstimateMaxAgeMs?: number
  readonly sweep?: Partial<Omit<SweepConfig, 'networkSize'>>
}

export const defaultWorkerConfig: Omit<WorkerConfig, 'redisUrl' | 'bootstrap' | 'identityFile'> = {
  namespace: 'sweep',
  listen: ['/ip4/0.0.0.0/tcp/0'],
  concurrency: 4,
  metrics: { host: '127.0.0.1', port: 9465 },
  shutdownGraceMs: 60_000,
  lockDurationMs: 30_000,
  heartbeatMs: 5000,
  networkEstimateMaxAgeMs: 3_600_000
}

/** Bootstrap peers can be briefly unreachable (a DHT under load, a pod starting early): retry before giving up. */
async function startHost(create: () => Promise<SweepHost>, log: Logger, attempts = 5): Promise<SweepHost> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await create()
    } catch (error) {
      if (attempt >= attempts) throw error
      const delayMs = 2000 * attempt
      log.warn({ err: error, attempt, retryInMs: delayMs }, 'joining the DHT failed; retrying')
      await new Promise((resolve) => setTimeout(resolve, delayMs))
    }
  }
}

export interface Worker {
  readonly id: string
  readonly peerId: string
  readonly metricsUrl: string
  /** Graceful stop: finish or hand back active jobs within the grace period. */
  stop(): Promise<CloseOutcome>
}

/**
 * A stateless worker: one libp2p host with the provider's identity, one Sweeper (so its
 * lookups' proofs carry over between neighbouring regions), and a BullMQ consumer that
 * explores and provides one region per job, streaming the region's keys from Redis.
 */
export async function startWorker(config: WorkerConfig, log: Logger): Promise<Worker> {
  const id = config.id ?? `worker-${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`
  const redis = connectRedis(config.redisUrl, { name: id })
  await waitForRedis(redis, config.redisUrl)
  const keystore = await openCreatedKeystore(redis, config.namespace, log)
  const schedule = new ScheduleStore(redis, config.namespace)
  const metrics = createMetrics('worker', { workerId: id })
  const tracing = initTracing('sweep-worker')
  let ready = false
  const ops = await startOpsServer({ host: config.metrics.host, port: config.metrics.port, registry: metrics.registry, ready: () => ready })

  const privateKey = await loadIdentity(config.identityFile)
  const host = await startHost(() => createSweepHost({ privateKey, bootstrap: config.bootstrap, protocol: config.protocol, listen: config.listen, announce: config.announce, privateAddrs: config.privateAddrs }), log)
  log.info({ id, peerId: host.peerId, announce: host.announceAddrs() }, 'libp2p host started')
  // Over the host's life, for the cost of a sweep (benchmarks read the last 'region done')
  let connectionsOpened = 0
  host.libp2p.addEventListener('connection:open', () => { connectionsOpened++ })
  const hostTotals = () => {
    const { rpcs, lookups, lookupsCut, queryErrors } = host.router.stats()
    const { dials, dialFailures } = host.sender.stats()
    return { connectionsOpened, findNodeRpcs: rpcs, lookups, lookupsCut, queryErrors, dials, dialFailures, failedPeers: host.failedPeers.size, dialsDenied: host.failedPeers.denied, timeoutsExcused: host.failedPeers.excused }
  }
  const k = config.sweep?.k ?? 20
  const measure = async (): Promise<NetworkInfo> => {
    const sampled = await sampleNetwork(host.router, k)
    const info = { size: sampled.size, prefixLength: sampled.prefixLength, measuredAt: Date.now(), by: id }
    await schedule.setNetwork(info)
    log.info({ networkSize: info.size, prefixLength: info.prefixLength }, 'measured the network')
    return info
  }
  // A joining worker takes jobs at once with a recent estimate another worker left in Redis;
  // measuring first (a few lookups) took 30-40 s on a 100-server network.
  const stored = await schedule.network()
  const fresh = stored !== undefined && Date.now() - stored.measuredAt < (config.networkEstimateMaxAgeMs ?? defaultWorkerConfig.networkEstimateMaxAgeMs ?? 0)
  const network = fresh ? stored : await measure()
  if (fresh) {
    log.info({ networkSize: network.size, prefixLength: network.prefixLength, ageMs: Date.now() - network.measuredAt, by: network.by }, 'using the stored network estimate; refining it in the background')
    void measure().catch((error: unknown) => log.warn({ err: error }, 'refining the network estimate failed'))
  }

  const once = new OnceTracker(keystore)
  const timings = new PortTimings()
  const checkpoints = new CheckpointingSender()
  // the checkpoint outermost: timings count only the records that really leave
  const sender = tracedSender(checkpoints.sender(timings.sender(host.sender)), tracing.tracer)
  const router = tracedRouter(timings.router(host.router), tracing.tracer)
  const sweeper = new Sweeper({ router, sender, keys: tracedKeys(once, tracing.tracer), clock: systemClock }, { ...config.sweep, networkSize: network.size })
  const sweepJob = async (job: RegionJob, meta: { jobId: string; signal: AbortSignal }): Promise<RegionReport> => {
    // a child of BullMQ's process span, which continues the trace of the job's enqueue
    const span = tracing.tracer.startSpan('region.sweep', { attributes: { 'sweep.prefix': job.prefix, 'sweep.reason': job.reason } })
    metrics.activeJobs.inc()
    const startedAt = Date.now()
    const before = timings.totals()
    timings.mark()
    // waitedMs: from the coordinator's enqueue to this start (the queue's share of a new key's latency)
    log.info({ jobId: meta.jobId, prefix: job.prefix, reason: job.reason, cycle: job.cycle, enqueuedAt: job.enqueuedAt, timeoutMs: job.timeoutMs, waitedMs: startedAt - job.enqueuedAt, host: hostTotals() }, 'region started')
    const deadline = jobDeadline(job.timeoutMs ?? DEFAULT_JOB_TIMEOUT_MS)
    // a lost lock, a hand-back or the job's own deadline stops every lookup and send
    const signal = AbortSignal.any([meta.signal, deadline.signal])
    try {
      const checkpoint = await JobCheckpoint.load(redis, config.namespace, meta.jobId)
      checkpoints.bind(signal, checkpoint)
      if (checkpoint.carried > 0) log.info({ jobId: meta.jobId, prefix: job.prefix, confirmed: checkpoint.carried }, 'resuming the region from its checkpoint')
      const swept = await context.with(trace.setSpan(context.active(), span), () => sweeper.sweepRegion(job.prefix, { fresh: job.reason === 'resweep', signal }))
      // what the host found dead meanwhile, anywhere: the coordinator re-sweeps regions that lost holders
      const report: RegionReport = { ...swept, deadPeers: host.failedPeers.diedSince(startedAt, MAX_DEAD_PEERS) }
      if (report.succeeded) await once.forget(job.prefix)
      else once.drop(job.prefix)
      await checkpoint.clear()
      metrics.observeReport(report, job.reason)
      span.setAttributes({ 'sweep.keys': report.keys, 'sweep.records_sent': report.recordsSent, 'sweep.lookups': report.lookups })
      log.info({ jobId: meta.jobId, prefix: job.prefix, reason: job.reason, cycle: job.cycle, keys: report.keys, sent: report.recordsSent, skipped: checkpoint.skipped, failed: report.recordsFailed, replaced: report.recordsReplaced ?? 0, deadPeers: report.deadPeers?.length ?? 0, peers: report.peersReached, peersFailed: report.peersFailed, lookups: report.lookups, mode: report.mode, complete: report.complete, ok: report.succeeded, ms: report.durationMs, exploreMs: report.exploreMs, host: hostTotals(), timing: jobTiming(before, startedAt) }, 'region done')
      return report
    } catch (error) {
      once.drop(job.prefix)
      span.recordException(error as Error)
      // what an aborted run sent, which its re-run skips as far as peers confirmed it (exact at concurrency 1)
      const now = timings.totals()
      log.warn({ jobId: meta.jobId, prefix: job.prefix, reason: job.reason, cycle: job.cycle, err: error, sent: now.recordsSent - before.recordsSent, failed: now.recordsFailed - before.recordsFailed, cut: now.recordsCut - before.recordsCut, ms: Date.now() - startedAt }, 'region aborted')
      throw error
    } finally {
      deadline.clear()
      metrics.activeJobs.dec()
      span.end()
    }
  }
  /** This job's lookup and send time, and when its first lookup began and first record left (ms after its start). */
  const jobTiming = (before: ReturnType<PortTimings['totals']>, startedAt: number) => {
    const now = timings.totals()
    return {
      lookups: now.lookups - before.lookups, lookupMs: now.lookupMs - before.lookupMs, sends: now.sends - before.sends, sendMs: now.sendMs - before.sendMs,
      firstLookupMs: timings.firstLookupAt === 0 ? null : timings.firstLookupAt - startedAt,
      firstRecordMs: timings.firstRecordAt === 0 ? null : timings.firstRecordAt - startedAt
    }
  }
  const consumer = new RegionWorker({
    redisUrl: config.redisUrl, namespace: config.namespace, workerId: id, concurrency: config.concurrency,
    lockDurationMs: config.lockDurationMs
  }, sweepJob)
  ready = true
  // since the process started: how long a joining worker takes to be useful
  log.info({ startupMs: Math.round(performance.now()), networkFrom: fresh ? 'redis' : 'measured', metrics: ops.url }, 'taking jobs')

  const beat = async (ttlMs = config.heartbeatMs * 3): Promise<void> => {
    await schedule.heartbeat({
      id, lastSeen: Date.now(), peerId: host.peerId, host: hostname(), pid: process.pid, concurrency: config.concurrency,
      active: consumer.active, bootstrap: [...config.bootstrap], announce: host.announceAddrs(),
      connections: host.libp2p.getConnections().length
    }, ttlMs).catch((error: unknown) => log.warn({ err: error }, 'heartbeat failed'))
  }
  await beat()
  const heartbeat = setInterval(() => void beat(), config.heartbeatMs)

  return {
    id,
    peerId: host.peerId,
    metricsUrl: ops.url,
    stop: async () => {
      ready = false
      clearInterval(heartbeat)
      const outcome = await consumer.close(config.shutdownGraceMs)
      log.info({ id, ...outcome }, 'worker stopped taking jobs')
      // a last beat that expires at once: stats drop this worker now, not a few heartbeats later
      await beat(1)
      timings.hostStopping = true
      await host.stop()
      await ops.close()
      await tracing.shutdown()
      redis.disconnect()
      // sends begun after the host began stopping fail at once, each one a failed record per key
      log.info({ id, sendsAfterHostStop: timings.sendsAfterHostStop }, 'worker stopped')
      return outcome
    }
  }
}

/** Fires after timeoutMs with an error that says what happened; clear() once the job is over, so no timer outlives it. */
function jobDeadline(timeoutMs: number): { signal: AbortSignal; clear: () => void } {
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(new Error(`the region job ran past its ${Math.round(timeoutMs / 1000)} s deadline`)), timeoutMs)
  return { signal: controller.signal, clear: () => clearTimeout(timer) }
}

/**
 * The namespace's keystore, once a coordinator has created it: a worker that created it
 * would fix the default bucketBits before the coordinator could apply its own.
 */
async function openCreatedKeystore(redis: ReturnType<typeof connectRedis>, namespace: string, log: Logger): Promise<AnyKeystore> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await openKeystore(redis, { namespace, create: false })
    } catch (error) {
      if (!(error instanceof KeystoreMissingError)) throw error
      // said again every 30 s: a wrong --namespace looks just like this
      if (attempt % 30 === 0) log.warn({ namespace, waitedS: attempt }, `${error.message}; waiting for it`)
    }
    await sleep(1000)
  }
}
