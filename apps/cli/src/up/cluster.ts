/**
 * An all-in-one local cluster: Redis, optionally a testnet of real kad-dht servers,
 * one coordinator and N workers as child processes running the real `sweep` bin.
 */
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { connect } from 'node:net'
import { existsSync, mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Testnet } from '@sweep/testnet'
import { ApiClient, ApiUnreachableError } from '../client/api-client.ts'
import type { Stats } from '../client/api-types.ts'
import { applyFaults, resolveImpl, type TestnetFlags } from '../testnet-options.ts'
import { chooseRedis, type ChosenRedis } from './redis.ts'
import { describeExit, spawnSweep, type SweepProcess } from './processes.ts'

/** The content-serving peer's address: js servers drop provider records that carry none. */
export const DEFAULT_ANNOUNCE = ['/ip4/127.0.0.1/tcp/4001']

export interface LocalClusterOptions {
  /** State directory: identity.key, logs/, redis/. */
  readonly dir: string
  /** A Redis URL; 'private' to always start our own in <dir>/redis; default: 127.0.0.1:6379 if it answers, else our own. */
  readonly redis?: string
  /** Start this many real kad-dht servers and bootstrap from them. */
  readonly testnet?: number
  /** Their implementation and faults; default a mixed network without faults. */
  readonly testnetFlags?: TestnetFlags
  /** DHT bootstrap multiaddrs (required without testnet). */
  readonly bootstrap?: readonly string[]
  readonly announce?: readonly string[]
  readonly workers?: number
  readonly concurrency?: number
  /** Reprovide interval as the coordinator takes it, e.g. "22h" or "300000ms". */
  readonly interval?: string
  /** HOST:PORT for the API; port 0 picks a free one. */
  readonly api?: string
  /**
   * Bearer token the coordinator requires; default SWEEP_API_TOKEN from the environment, else
   * a new random one (the API can replace the whole set, so it is never open by default); ''
   * for none.
   */
  readonly apiToken?: string
  /** Startup messages. */
  readonly log?: (message: string) => void
  /** Bound for the API to answer and every worker to register; default 120 s. */
  readonly readyTimeoutMs?: number
}

/** The coordinator's web dashboard; `?token=` signs the browser in (the page keeps it in a cookie). */
export function dashboardUrl(apiUrl: string, token: string | undefined): string {
  return `${apiUrl}/${token === undefined || token === '' ? '' : `?token=${encodeURIComponent(token)}`}`
}

export interface LocalCluster {
  readonly apiUrl: string
  /** The token the API requires (undefined for none), and whether it was made up here. */
  readonly apiToken?: string
  readonly apiTokenGenerated: boolean
  readonly redisUrl: string
  readonly bootstrap: string[]
  readonly identityFile: string
  readonly testnet?: Testnet
  readonly workers: ChildProcess[]
  readonly coordinator: ChildProcess
  readonly logDir: string
  readonly processes: readonly SweepProcess[]
  /** Worker processes running now, retiring ones excluded. */
  readonly workerCount: number
  /**
   * Starts or SIGTERMs workers until count run; a stopped worker hands its jobs back within
   * its shutdown grace. Resolves once the new workers have registered.
   */
  scaleWorkers(count: number): Promise<{ started: SweepProcess[]; stopping: string[] }>
  /** Workers, then the coordinator, then the testnet and our own Redis; idempotent. */
  stop(): Promise<void>
}

/** Workers hand active jobs back within their shutdown grace (60 s by default). */
const WORKER_STOP_GRACE_MS = 75_000
const COORDINATOR_STOP_GRACE_MS = 20_000

export async function startLocalCluster(options: LocalClusterOptions): Promise<LocalCluster> {
  const log = options.log ?? (() => {})
  const workerCount = options.workers ?? 2
  if (options.testnet === undefined && (options.bootstrap === undefined || options.bootstrap.length === 0)) {
    throw new Error('no DHT to provide to: pass --testnet N to run a local test network, or --bootstrap MULTIADDR... for a real one')
  }
  const dir = resolve(options.dir)
  const logDir = join(dir, 'logs')
  mkdirSync(logDir, { recursive: true })

  const cleanups: Array<() => Promise<void>> = []
  const processes: SweepProcess[] = []
  // scaled-down workers: still in processes until they exit, so stop() waits for them too
  const retiring = new Set<SweepProcess>()
  let stopping: Promise<void> | undefined
  const stop = () => {
    stopping ??= (async () => {
      const workers = processes.filter((p) => p.name !== 'coordinator')
      await Promise.all(workers.map((p) => p.stop(WORKER_STOP_GRACE_MS)))
      await Promise.all(processes.filter((p) => p.name === 'coordinator').map((p) => p.stop(COORDINATOR_STOP_GRACE_MS)))
      for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {})
    })()
    return stopping
  }

  try {
    const redis: ChosenRedis = await chooseRedis(options.redis, dir)
    if (redis.server !== undefined) cleanups.push(() => redis.server!.stop())
    log(redis.source === 'started' ? `redis: started redis-server at ${redis.url} (data in ${join(dir, 'redis')})`
      : redis.source === 'local' ? `redis: using the Redis at ${redis.url}` : `redis: ${redis.url}`)

    const identityFile = join(dir, 'identity.key')
    if (!existsSync(identityFile)) {
      // libp2p, the testnet and the store load lazily: the client subcommands share this binary and should start fast
      const { generateIdentity } = await import('@sweep/dht')
      await generateIdentity(identityFile)
      log(`identity: generated ${identityFile}`)
    }

    let testnet: Testnet | undefined
    let bootstrap = [...(options.bootstrap ?? [])]
    if (options.testnet !== undefined) {
      const started = Date.now()
      const flags = options.testnetFlags ?? { impl: 'mixed', unreachable: 0, latency: 0, jitter: 0 }
      const impl = await resolveImpl(flags.impl, log)
      const { startTestnet } = await import('@sweep/testnet')
      testnet = await startTestnet({ nodes: options.testnet, impl, log })
      const net = testnet
      cleanups.push(() => net.stop())
      await applyFaults(testnet, flags, log)
      bootstrap = [...testnet.bootstrap, ...bootstrap]
      log(`testnet: ${options.testnet} ${impl} kad-dht servers up in ${((Date.now() - started) / 1000).toFixed(1)} s`)
    }

    const api = await apiListen(options.api ?? '127.0.0.1:8080')
    const env = { ...process.env }
    const given = options.apiToken ?? (process.env.SWEEP_API_TOKEN === '' ? undefined : process.env.SWEEP_API_TOKEN)
    const token = (given ?? randomBytes(24).toString('base64url')) || undefined
    if (token === undefined) delete env.SWEEP_API_TOKEN
    else env.SWEEP_API_TOKEN = token
    const coordinator = spawnSweep('coordinator', [
      'coordinator', '--redis', redis.url, '--api', `${api.host}:${api.port}`, '--metrics', '127.0.0.1:0', '--interval', options.interval ?? '22h'
    ], logDir, env)
    processes.push(coordinator)
    let lastWorker = 0
    const spawnWorker = (): SweepProcess => {
      const id = `worker-${++lastWorker}`
      const worker = spawnSweep(id, [
        'worker', '--redis', redis.url, '--bootstrap', bootstrap.join(','), '--identity', identityFile,
        '--announce', [...(options.announce ?? DEFAULT_ANNOUNCE)].join(','), '--concurrency', String(options.concurrency ?? 1),
        '--metrics', '127.0.0.1:0', '--id', id
      ], logDir, env)
      processes.push(worker)
      void worker.exited.then(() => {
        if (!retiring.delete(worker)) return
        processes.splice(processes.indexOf(worker), 1)
      })
      return worker
    }
    const workerIds = Array.from({ length: workerCount }, () => spawnWorker().name)
    const apiUrl = `http://${api.host.includes(':') ? `[${api.host}]` : api.host}:${api.port}`
    const client = new ApiClient({ url: apiUrl, token, timeoutMs: 5000 })
    await waitUntilReady(client, processes, workerIds, options.readyTimeoutMs ?? 120_000)
    const active = () => processes.filter((p) => p !== coordinator && !retiring.has(p) && p.running())
    // one change at a time: two overlapping calls would both count the same running workers
    let scaling: Promise<unknown> = Promise.resolve()
    const scaleWorkers = (count: number): Promise<{ started: SweepProcess[]; stopping: string[] }> => {
      const next = scaling.then(() => scaleNow(count))
      scaling = next.catch(() => {})
      return next
    }
    const scaleNow = async (count: number): Promise<{ started: SweepProcess[]; stopping: string[] }> => {
      if (!Number.isInteger(count) || count < 0) throw new Error(`worker count: expected an integer ≥ 0, got ${count}`)
      const running = active()
      // the newest go first: worker-1 stays, so its log is the long one
      const leaving = running.slice(count).reverse()
      for (const worker of leaving) {
        retiring.add(worker)
        void worker.stop(WORKER_STOP_GRACE_MS)
      }
      const started = Array.from({ length: Math.max(0, count - running.length) }, spawnWorker)
      if (started.length > 0) await waitUntilReady(client, [coordinator, ...started], started.map((w) => w.name), options.readyTimeoutMs ?? 120_000)
      return { started, stopping: leaving.map((w) => w.name) }
    }
    log(`cluster: coordinator and ${workerCount} workers up; API at ${apiUrl}; logs in ${logDir}`)
    return {
      apiUrl,
      apiToken: token,
      apiTokenGenerated: given === undefined,
      redisUrl: redis.url,
      bootstrap,
      identityFile,
      testnet,
      workers: processes.filter((p) => p !== coordinator).map((p) => p.child),
      coordinator: coordinator.child,
      logDir,
      processes,
      get workerCount() { return active().length },
      scaleWorkers,
      stop
    }
  } catch (error) {
    await stop()
    throw error
  }
}

async function apiListen(text: string): Promise<{ host: string; port: number }> {
  const match = /^(?:https?:\/\/)?(?:\[([^\]]+)\]|([^:/]*)):(\d+)\/?$/.exec(text.trim())
  if (match === null) throw new Error(`--api: expected HOST:PORT (e.g. 127.0.0.1:8080), got "${text}"`)
  const host = match[1] ?? (match[2] === '' ? '127.0.0.1' : match[2] as string)
  const port = Number(match[3])
  if (port > 65_535) throw new Error(`--api: port ${port} is out of range`)
  // the clients need to know the port, so "any port" is chosen here rather than by the coordinator
  if (port !== 0) {
    // otherwise our coordinator would fail to bind while the other one answers our readiness checks
    if (await isListening(host, port)) throw new Error(`--api: something already listens on ${host}:${port} (another sweep up?); pass --api HOST:PORT with a free port`)
    return { host, port }
  }
  const { freePort } = await import('@sweep/store')
  return { host, port: await freePort() }
}

function isListening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port })
    const done = (yes: boolean) => {
      socket.destroy()
      resolve(yes)
    }
    socket.setTimeout(500, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

/** Until GET /v1/stats answers and lists every worker; a child that dies first fails it with its log tail. */
async function waitUntilReady(client: ApiClient, processes: readonly SweepProcess[], workerIds: readonly string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let lastProblem: string
  for (;;) {
    for (const p of processes) {
      if (!p.running()) throw new Error(describeExit(p, await p.exited))
    }
    try {
      const stats = await client.get<Stats>('/v1/stats')
      const registered = new Set((stats.workers ?? []).map((w) => w.id))
      const missing = workerIds.filter((id) => !registered.has(id))
      if (missing.length === 0) return
      lastProblem = `the API answers, but ${missing.join(', ')} ${missing.length === 1 ? 'has' : 'have'} not registered`
    } catch (error) {
      lastProblem = error instanceof ApiUnreachableError ? `the API at ${client.baseUrl} does not answer yet` : (error as Error).message
    }
    if (Date.now() > deadline) {
      const suspects = lastProblem.includes('registered') ? processes.filter((p) => p.name !== 'coordinator') : processes.filter((p) => p.name === 'coordinator')
      throw new Error(`the cluster was not ready after ${Math.round(timeoutMs / 1000)} s: ${lastProblem}\n` +
        suspects.map((p) => `the end of ${p.logFile}:\n${p.tail(10).split('\n').map((l) => `  ${l}`).join('\n')}`).join('\n'))
    }
    await sleep(250)
  }
}
