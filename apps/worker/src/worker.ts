import { hostname } from 'node:os'
import { randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import { createSweepHost, loadIdentity, type SweepHost } from '@sweep/dht'
import { RegionWorker, type RegionJob } from '@sweep/queue'
import { connectRedis, Keystore, ScheduleStore, waitForRedis } from '@sweep/store'
import { context, createMetrics, extractTrace, initTracing, startOpsServer, trace } from '@sweep/telemetry'
import { sampleNetwork, Sweeper, systemClock, type RegionReport, type SweepConfig } from '@sweep/sweep'
import { OnceTracker } from './once.ts'

export interface WorkerConfig {
  readonly redisUrl: string
  readonly namespace: string
  readonly bootstrap: readonly string[]
  /** The DHT's kad protocol id; Amino's by default. */
  readonly protocol?: string
  readonly identityFile: string
  readonly announce?: readonly string[]
  readonly listen: readonly string[]
  readonly concurrency: number
  readonly metrics: { readonly host: string; readonly port: number }
  readonly id?: string
  /** On SIGTERM, active jobs get this long to finish before they are handed back. */
  readonly shutdownGraceMs: number
  readonly lockDurationMs: number
  readonly heartbeatMs: number
  readonly sweep?: Partial<Omit<SweepConfig, 'networkSize'>>
}

export const defaultWorkerConfig: Omit<WorkerConfig, 'redisUrl' | 'bootstrap' | 'identityFile'> = {
  namespace: 'sweep',
  listen: ['/ip4/0.0.0.0/tcp/0'],
  concurrency: 4,
  metrics: { host: '127.0.0.1', port: 9465 },
  shutdownGraceMs: 60_000,
  lockDurationMs: 30_000,
  heartbeatMs: 5000
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
  stop(): Promise<{ finished: number; handedBack: number }>
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
  const keystore = await Keystore.open(redis, { namespace: config.namespace })
  const schedule = new ScheduleStore(redis, config.namespace)
  const metrics = createMetrics('worker')
  const tracing = initTracing('sweep-worker')
  let ready = false
  const ops = await startOpsServer({ host: config.metrics.host, port: config.metrics.port, registry: metrics.registry, ready: () => ready })

  const privateKey = await loadIdentity(config.identityFile)
  const host = await startHost(() => createSweepHost({ privateKey, bootstrap: config.bootstrap, protocol: config.protocol, listen: config.listen, announce: config.announce }), log)
  log.info({ id, peerId: host.peerId, announce: host.announceAddrs() }, 'libp2p host started')
  // Over the host's life, for the cost of a sweep (benchmarks read the last 'region done')
  let connectionsOpened = 0
  host.libp2p.addEventListener('connection:open', () => { connectionsOpened++ })
  const hostTotals = () => {
    const { rpcs, lookups } = host.router.stats()
    const { dials, dialFailures } = host.sender.stats()
    return { connectionsOpened, findNodeRpcs: rpcs, lookups, dials, dialFailures }
  }
  const network = await sampleNetwork(host.router, config.sweep?.k ?? 20)
  await schedule.setNetwork({ size: network.size, prefixLength: network.prefixLength, measuredAt: Date.now(), by: id })
  log.info({ networkSize: network.size, prefixLength: network.prefixLength }, 'measured the network')

  const once = new OnceTracker(keystore)
  const sweeper = new Sweeper({ router: host.router, sender: host.sender, keys: once, clock: systemClock }, { ...config.sweep, networkSize: network.size })
  const sweepJob = async (job: RegionJob, meta: { jobId: string }): Promise<RegionReport> => {
    const span = tracing.tracer.startSpan('region.sweep', { attributes: { 'sweep.prefix': job.prefix, 'sweep.reason': job.reason } }, extractTrace(job.trace))
    metrics.activeJobs.inc()
    log.info({ jobId: meta.jobId, prefix: job.prefix, reason: job.reason, cycle: job.cycle, host: hostTotals() }, 'region started')
    try {
      const report = await context.with(trace.setSpan(context.active(), span), () => sweeper.sweepRegion(job.prefix))
      if (report.succeeded) await once.forget(job.prefix)
      else once.drop(job.prefix)
      metrics.observeReport(report, job.reason)
      span.setAttributes({ 'sweep.keys': report.keys, 'sweep.records_sent': report.recordsSent, 'sweep.lookups': report.lookups })
      log.info({ jobId: meta.jobId, prefix: job.prefix, reason: job.reason, cycle: job.cycle, keys: report.keys, sent: report.recordsSent, failed: report.recordsFailed, peers: report.peersReached, peersFailed: report.peersFailed, lookups: report.lookups, mode: report.mode, complete: report.complete, ok: report.succeeded, ms: report.durationMs, exploreMs: report.exploreMs, host: hostTotals() }, 'region done')
      return report
    } catch (error) {
      once.drop(job.prefix)
      span.recordException(error as Error)
      throw error
    } finally {
      metrics.activeJobs.dec()
      span.end()
    }
  }
  const consumer = new RegionWorker({
    redisUrl: config.redisUrl, namespace: config.namespace, workerId: id, concurrency: config.concurrency,
    lockDurationMs: config.lockDurationMs
  }, sweepJob)
  ready = true

  const beat = async (): Promise<void> => {
    await schedule.heartbeat({
      id, lastSeen: Date.now(), peerId: host.peerId, host: hostname(), pid: process.pid, concurrency: config.concurrency,
      active: consumer.active, bootstrap: [...config.bootstrap], announce: host.announceAddrs(),
      connections: host.libp2p.getConnections().length
    }, config.heartbeatMs * 3).catch((error: unknown) => log.warn({ err: error }, 'heartbeat failed'))
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
      await host.stop()
      await ops.close()
      await tracing.shutdown()
      redis.disconnect()
      return outcome
    }
  }
}
