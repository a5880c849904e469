import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { decode as decodeDigest } from 'multiformats/hashes/digest'
import { generateIdentity } from '@sweep/dht'
import { keyHasPrefix } from '@sweep/keyspace'
import type { ProvideKey } from '@sweep/sweep'
import { startRedisCluster, startRedisServer, type RedisCluster, type RedisServer } from '@sweep/store'
import { startTestnet, type Testnet, type TestnetImpl } from '@sweep/testnet'
import { randomCids, tempDir } from '../helpers.ts'
import { SweepProcess, waitUntil, type LogLine } from './processes.ts'

export interface ClusterOptions {
  readonly redisUrl: string
  /** DHT bootstrap addresses for the workers (a testnet's). */
  readonly bootstrap?: readonly string[]
  readonly identityFile: string
  /** Redis namespace: tests share one Redis and stay apart by namespace. */
  readonly namespace: string
  /** Extra environment of every process (OTEL_* for tracing tests). */
  readonly env?: Readonly<Record<string, string>>
  readonly interval?: string
  readonly lockDuration?: string
  readonly concurrency?: number
  readonly apiToken?: string
  readonly maxBody?: string
  /** Coordinator --resweep-delay, e.g. '5s'. */
  readonly resweepDelay?: string
  /** Coordinator --job-timeout: each region job's own deadline. */
  readonly jobTimeout?: string
  /** Coordinator --bucket-bits for the namespace's keystore. */
  readonly bucketBits?: number
}

export function cidOf(multihash: Uint8Array): string {
  return CID.createV1(raw.code, decodeDigest(multihash)).toString()
}

/** Real coordinator and worker processes of one cluster, as a deployment would run them. */
export class TestCluster {
  readonly options: ClusterOptions
  readonly coordinators = new Map<string, SweepProcess>()
  readonly workers = new Map<string, SweepProcess>()
  apiUrl = ''

  constructor(options: ClusterOptions) {
    this.options = options
  }

  async startCoordinator(name: string): Promise<SweepProcess> {
    const o = this.options
    const proc = new SweepProcess(name, [
      'coordinator', '--redis', o.redisUrl, '--namespace', o.namespace, '--api', '127.0.0.1:0', '--metrics', '127.0.0.1:0',
      '--interval', o.interval ?? '22h', '--id', name, ...(o.apiToken ? ['--api-token', o.apiToken] : []),
      ...(o.maxBody ? ['--max-body', o.maxBody] : []),
      ...(o.resweepDelay ? ['--resweep-delay', o.resweepDelay] : []),
      ...(o.jobTimeout ? ['--job-timeout', o.jobTimeout] : []),
      ...(o.bucketBits ? ['--bucket-bits', String(o.bucketBits)] : [])
    ], o.env)
    this.coordinators.set(name, proc)
    const started = await proc.waitForLog((l) => l.msg === 'coordinator started')
    this.apiUrl = String(started.api)
    return proc
  }

  async startWorker(name: string): Promise<SweepProcess> {
    const o = this.options
    if (!o.bootstrap || o.bootstrap.length === 0) throw new Error('workers need bootstrap addresses')
    const bootstrap = o.bootstrap.join(',')
    const proc = new SweepProcess(name, [
      'worker', '--redis', o.redisUrl, '--namespace', o.namespace, '--bootstrap', bootstrap, '--identity', o.identityFile,
      '--announce', '/ip4/127.0.0.1/tcp/4001', '--listen', '/ip4/127.0.0.1/tcp/0', '--metrics', '127.0.0.1:0',
      '--concurrency', String(o.concurrency ?? 1), '--lock-duration', o.lockDuration ?? '5s', '--shutdown-grace', '10s', '--id', name
    ], o.env)
    this.workers.set(name, proc)
    await proc.waitForLog((l) => l.msg === 'measured the network', 90_000)
    return proc
  }

  async api<T = Record<string, unknown>>(path: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
    const headers = new Headers(init.headers)
    if (this.options.apiToken) headers.set('authorization', `Bearer ${this.options.apiToken}`)
    const res = await fetch(this.apiUrl + path, { ...init, headers })
    return { status: res.status, body: await res.json() as T }
  }

  async provide(cids: readonly string[], path = '/v1/provide'): Promise<Record<string, unknown>> {
    const { status, body } = await this.api(path, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: cids.join('\n') })
    if (status !== 200) throw new Error(`${path} answered ${status}: ${JSON.stringify(body)}`)
    return body
  }

  async stats(): Promise<Stats> {
    return (await this.api<Stats>('/v1/stats')).body
  }

  /** One coordinator and one worker, with count random CIDs provided: the keys, once every region went out. */
  async startProvided(count: number): Promise<ProvideKey[]> {
    await this.startCoordinator('coordinator-1')
    await this.startWorker('worker-1')
    await this.waitForCycle()
    const keys = await randomCids(count)
    await this.provide(keys.map((k) => cidOf(k.multihash)))
    await this.waitForCycle()
    return keys
  }

  /**
   * Waits until every region, and so every stored key, went out in the current cycle, and the
   * queue is drained. With `drained: false` jobs may still be queued or running: re-sweeps the
   * leader planned for regions whose peers failed, which a slow machine may take minutes over.
   */
  async waitForCycle(timeoutMs = 120_000, { drained = true } = {}): Promise<Stats> {
    let last: Stats | undefined
    return waitUntil(`every region and key provided this cycle${drained ? ', and the queue drained' : ''}`, async () => {
      const s = last = await this.stats()
      const idle = !drained || s.queues.waiting + s.queues.active + s.queues.prioritized === 0
      const allRegions = s.cycle.regionsTotal > 0 && s.cycle.regionsDone === s.cycle.regionsTotal
      return allRegions && s.cycle.keysProvided >= s.keys.total && idle ? s : undefined
    }, timeoutMs, 500).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}; last stats: ${JSON.stringify({ keys: last?.keys, queues: last?.queues, cycle: last?.cycle })}`)
    })
  }

  /**
   * Waits until every re-sweep the leader planned has run and the queue is idle:
   * how a provide settles after peers died.
   */
  async waitForResweeps(timeoutMs = 300_000): Promise<{ planned: number; ran: number }> {
    return waitUntil('every planned re-sweep done', async () => {
      const planned = [...this.coordinators.values()].flatMap((c) => c.logs).reduce((n, l) => {
        if (l.msg === 'many peers of the region failed; sweeping it again soon') return n + 1
        if (l.msg === 'regions lost holders since their last sweep; sweeping them again soon') return n + (l.regions as unknown[]).length
        return n
      }, 0)
      const ran = this.workerLog('region done').filter((l) => l.reason === 'resweep').length
      const s = await this.stats()
      const idle = s.queues.waiting + s.queues.active + s.queues.prioritized === 0
      return ran >= planned && idle ? { planned, ran } : undefined
    }, timeoutMs, 1000)
  }

  /** What the coordinators logged at warn level or above (re-sweep plans, failed regions), a line each, for a test that fell short. */
  coordinatorWarnings(): string {
    return [...this.coordinators.values()].flatMap((c) => c.logs.filter((l) => Number(l.level) >= 40))
      .map((l) => `  ${l.time} ${l.msg} ${JSON.stringify({ ...l, msg: undefined, time: undefined, pid: undefined, hostname: undefined })}`).join('\n')
  }

  /** What the workers logged with this message, each line tagged with its worker's name. */
  workerLog(msg: string): Array<LogLine & { worker: string }> {
    return [...this.workers].flatMap(([worker, proc]) => proc.logs.filter((l) => l.msg === msg).map((l) => ({ ...l, worker })))
  }

  /** How many region jobs ran, by reason ('provide', 'reprovide', 'resweep', ...). */
  runsByReason(): Record<string, number> {
    const counts: Record<string, number> = {}
    for (const run of this.workerLog('region done')) counts[String(run.reason)] = (counts[String(run.reason)] ?? 0) + 1
    return counts
  }

  /**
   * For a test whose recall fell short: recall per region over `keys` (perKey as
   * Testnet.recall gave it), beside what each of the region's runs went through.
   */
  recallByRegion(keys: readonly ProvideKey[], perKey: readonly number[]): string {
    const runs = this.workerLog('region done')
    return [...new Set(runs.map((l) => String(l.prefix)))].sort().map((prefix) => {
      const inRegion = keys.flatMap((k, i) => (keyHasPrefix(k.key, prefix) ? [perKey[i]] : []))
      const recall = inRegion.reduce((a, b) => a + b, 0) / Math.max(1, inRegion.length)
      const lines = runs.filter((l) => l.prefix === prefix).map((l) =>
        `    ${l.time} ${l.worker} ${l.reason} keys ${l.keys} sent ${l.sent} failed ${l.failed} replaced ${l.replaced} peers ${l.peers} peersFailed ${l.peersFailed} ms ${l.ms} host ${JSON.stringify(l.host)}`)
      return [`  region ${prefix}: recall ${recall.toFixed(4)} over ${inRegion.length} keys`, ...lines].join('\n')
    }).join('\n')
  }

  async stop(): Promise<void> {
    await Promise.all([...this.workers.values(), ...this.coordinators.values()].map((p) => p.stop('SIGTERM')))
  }
}

export interface Stats {
  keys: { total: number; regions: number; bucketBits?: number; rebucketing?: { fromBits: number; toBits: number; phase: string } | null }
  queues: { waiting: number; prioritized: number; active: number; delayed: number; failed: number }
  workers: Array<{ id: string; active: number; peerId: string }>
  cycle: { start: number; number: number; regionsDone: number; regionsTotal: number; keysProvided: number }
  provides: { recordsSent: number; recordsReplaced?: number; keysProvided: number; regionsOk: number; regionsFailed: number }
  leader: { id: string } | null
}

/** One Redis (or Redis Cluster), one testnet and one provider identity shared by a test file's clusters. */
export class ClusterFixture {
  redis: RedisServer | RedisCluster
  readonly testnet: Testnet
  readonly identityFile: string
  private readonly clusters: TestCluster[] = []

  private constructor(redis: RedisServer | RedisCluster, testnet: Testnet, identityFile: string) {
    this.redis = redis
    this.testnet = testnet
    this.identityFile = identityFile
  }

  /** With redisCluster, the processes share a real Redis Cluster of 3 masters and 3 replicas. */
  static async start(name: string, nodes: number, impl: TestnetImpl = 'js', options: { redisCluster?: boolean } = {}): Promise<ClusterFixture> {
    const dir = await tempDir(name)
    const redisDir = join(dir, 'redis')
    const [redis, testnet] = await Promise.all([
      options.redisCluster === true ? startRedisCluster({ dir: redisDir }) : startRedisServer({ dir: redisDir }),
      startTestnet({ nodes, impl })
    ])
    const identityFile = join(dir, 'provider.key')
    await generateIdentity(identityFile)
    return new ClusterFixture(redis, testnet, identityFile)
  }

  /** A cluster in its own Redis namespace. */
  cluster(options: Partial<ClusterOptions> & { namespace: string }): TestCluster {
    const cluster = new TestCluster({ redisUrl: this.redis.url, bootstrap: this.testnet.bootstrap, identityFile: this.identityFile, ...options })
    this.clusters.push(cluster)
    return cluster
  }

  async restartRedis(): Promise<void> {
    if (!('restart' in this.redis)) throw new Error('restartRedis: the fixture runs a Redis Cluster')
    this.redis = await this.redis.restart()
  }

  async stop(): Promise<void> {
    for (const cluster of this.clusters) await cluster.stop()
    await this.testnet.stop()
    await this.redis.stop()
  }
}
