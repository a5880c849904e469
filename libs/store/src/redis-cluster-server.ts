import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { freePort, startRedisServer, type RedisServer } from './redis-server.ts'

export interface RedisClusterOptions {
  /** Each node gets its own subdirectory, since every node writes a nodes.conf of its own. */
  readonly dir: string
  /** At least 3: redis-cli refuses to create a cluster with fewer masters. */
  readonly masters?: number
  readonly replicasPerMaster?: number
  readonly appendOnly?: boolean
}

export interface RedisClusterNode {
  readonly port: number
  readonly dir: string
  readonly pid: number
  role(): Promise<'master' | 'replica'>
  /** Hard crash: SIGKILL. */
  kill(): Promise<void>
  stop(): Promise<void>
}

export interface RedisCluster {
  /** `redis+cluster://127.0.0.1:p1,127.0.0.1:p2,...` listing every node */
  readonly url: string
  readonly nodes: readonly RedisClusterNode[]
  /** The nodes that are masters now, asked with ROLE; nodes stopped or killed through their handle are skipped. */
  masters(): Promise<RedisClusterNode[]>
  /**
   * Resolves once every live node says cluster_state:ok and maps all 16384 slots to live
   * masters. cluster_state alone is not enough: right after a master dies the others still
   * say ok until cluster-node-timeout has passed and they have agreed on FAIL.
   */
  waitHealthy(timeoutMs?: number): Promise<void>
  stop(): Promise<void>
}

const SLOTS = 16384
/** Short, so a failover takes a few seconds: detection after 2 s, election within ~1-2 s more. */
const NODE_TIMEOUT_MS = 2000

/** Starts masters × (1 + replicasPerMaster) redis-servers on 127.0.0.1 and joins them into a cluster with redis-cli. */
export async function startRedisCluster(options: RedisClusterOptions): Promise<RedisCluster> {
  const masterCount = options.masters ?? 3
  const replicas = options.replicasPerMaster ?? 1
  if (masterCount < 3) throw new Error(`a Redis Cluster needs at least 3 masters, got ${masterCount}`)
  const count = masterCount * (1 + replicas)
  // The bus port defaults to port + 10000, past 65535 for any port above 55535 that
  // freePort may hand out, so every node gets an explicit --cluster-port as well.
  const ports = await distinctFreePorts(2 * count)
  const started = await Promise.allSettled(Array.from({ length: count }, (_, i) => startRedisServer({
    dir: join(options.dir, `node-${i}`),
    port: ports[2 * i],
    appendOnly: options.appendOnly,
    extraArgs: [
      '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf',
      '--cluster-node-timeout', String(NODE_TIMEOUT_MS), '--cluster-port', String(ports[2 * i + 1]),
      // else a master waits 5 s for more replicas before the first full sync
      '--repl-diskless-sync-delay', '0'
    ]
  })))
  const servers = started.flatMap((outcome) => outcome.status === 'fulfilled' ? [outcome.value] : [])
  const cluster = clusterOf(servers)
  try {
    const failed = started.find((outcome) => outcome.status === 'rejected')
    if (failed !== undefined) throw failed.reason
    // With every node on one host, redis-cli makes the first `masters` nodes the masters;
    // which of them each replica follows is shuffled, so masters() asks ROLE rather than assuming.
    await redisCli(['--cluster', 'create', ...servers.map((s) => `127.0.0.1:${s.port}`),
      '--cluster-replicas', String(replicas), '--cluster-yes'])
    await cluster.waitHealthy()
    // WAIT and failover both need the replicas synced, which create does not wait for
    await until(30_000, 'replicas did not finish their first sync', async () => {
      const roles = await Promise.all(servers.map((s) => ask(s.port, 'ROLE') as Promise<unknown[]>))
      const pending = roles.filter((role) => role[0] === 'slave' && role[3] !== 'connected').length
      return pending === 0 ? undefined : `${pending} replicas not connected`
    })
    return cluster
  } catch (error) {
    await cluster.stop()
    throw error
  }
}

function clusterOf(servers: readonly RedisServer[]): RedisCluster {
  const live = new Set(servers.map((s) => s.port))
  const nodes = servers.map((server): RedisClusterNode => ({
    port: server.port,
    dir: server.dir,
    pid: server.pid,
    role: async () => (await ask(server.port, 'ROLE') as unknown[])[0] === 'master' ? 'master' : 'replica',
    kill: async () => { live.delete(server.port); await server.kill() },
    stop: async () => { live.delete(server.port); await server.stop() }
  }))
  const liveNodes = () => nodes.filter((node) => live.has(node.port))
  return {
    url: `redis+cluster://${servers.map((s) => `127.0.0.1:${s.port}`).join(',')}`,
    nodes,
    masters: async () => {
      const candidates = liveNodes()
      const roles = await Promise.all(candidates.map((node) => node.role()))
      return candidates.filter((_, i) => roles[i] === 'master')
    },
    waitHealthy: (timeoutMs = 30_000) => until(timeoutMs, 'Redis Cluster is not healthy', async () => {
      const problems = await Promise.all(liveNodes().map((node) => healthProblem(node.port, live)))
      return problems.find((problem) => problem !== undefined)
    }),
    // server.stop() waits for an exit that already happened, so a second stop() is a no-op
    stop: async () => { await Promise.all(nodes.map((node) => node.stop())) }
  }
}

/** What keeps this node from calling the cluster healthy, or undefined. */
async function healthProblem(port: number, live: ReadonlySet<number>): Promise<string | undefined> {
  try {
    const info = String(await ask(port, 'CLUSTER', 'INFO'))
    const state = /cluster_state:(\w+)/.exec(info)?.[1]
    if (state !== 'ok') return `127.0.0.1:${port} says cluster_state:${state}`
    const ranges = await ask(port, 'CLUSTER', 'SLOTS') as [number, number, [string, number]][]
    const orphaned = ranges.filter(([, , [, master]]) => !live.has(master))
    const covered = ranges.filter((range) => !orphaned.includes(range)).reduce((sum, [start, end]) => sum + end - start + 1, 0)
    if (covered === SLOTS) return undefined
    return `127.0.0.1:${port} maps ${SLOTS - covered} slots to no live master` +
      (orphaned.length > 0 ? ` (${orphaned.map(([start, end, [, master]]) => `${start}-${end} on ${master}`).join(', ')})` : '')
  } catch (error) {
    return (error as Error).message
  }
}

/** One command on a throwaway connection that gives up fast, so a dead node cannot stall a wait. */
async function ask(port: number, ...args: string[]): Promise<unknown> {
  const redis = new Redis({
    host: '127.0.0.1', port, lazyConnect: true, connectTimeout: 1000, commandTimeout: 2000,
    maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false
  })
  redis.on('error', () => {})
  try {
    await redis.connect()
    return await redis.call(args[0], ...args.slice(1))
  } catch (error) {
    throw new Error(`${args.join(' ')} on 127.0.0.1:${port} failed: ${(error as Error).message}`, { cause: error })
  } finally {
    redis.disconnect()
  }
}

/** Polls check until it returns undefined; after timeoutMs throws with what it returned last. */
async function until(timeoutMs: number, what: string, check: () => Promise<string | undefined>): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const problem = await check()
    if (problem === undefined) return
    if (Date.now() > deadline) throw new Error(`${what} after ${timeoutMs} ms: ${problem}`)
    await sleep(100)
  }
}

async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>()
  for (let tries = 0; ports.size < count && tries < count * 10; tries++) ports.add(await freePort())
  if (ports.size < count) throw new Error(`could not find ${count} distinct free ports`)
  return [...ports]
}

async function redisCli(args: string[]): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    execFile('redis-cli', args, { timeout: 30_000 }, (error, stdout, stderr) => {
      if (error === null) return resolve()
      const missing = (error as NodeJS.ErrnoException).code === 'ENOENT'
      reject(new Error(missing
        ? 'redis-cli is not on PATH: install Redis (apt-get install redis-tools)'
        : `redis-cli ${args.slice(0, 2).join(' ')} failed (${error.killed ? 'timed out after 30 s' : `exit ${error.code}`}): ${(stdout + stderr).trim().slice(-2000)}`))
    })
  })
}
