import calculateSlot from 'cluster-key-slot'
import { Cluster, Redis } from 'ioredis'

export interface ConnectOptions {
  /** CLIENT SETNAME, so `CLIENT LIST` tells the coordinator, workers and CLI apart. */
  readonly name?: string
}

/**
 * The URL of a Redis Cluster: `redis+cluster://host:port,host:port` (`rediss+cluster://` for
 * TLS), optionally `?wait=N`: keystore writes count as done once N replicas have them
 * (default 1; 0 for a cluster without replicas).
 */
const CLUSTER_URL = /^(rediss?)\+cluster:\/\/(?:([^@/]*)@)?([^/?#]+)\/?(?:\?([^#]*))?$/

export interface ClusterUrl {
  readonly nodes: { host: string; port: number }[]
  readonly username?: string
  readonly password?: string
  readonly tls: boolean
  /** Replicas that must confirm a keystore write before it counts as done. */
  readonly wait: number
}

/** How long a write waits for its replicas' confirmation before it fails. */
export const REPLICA_WAIT_MS = 2000

/** The seed nodes, credentials and options of a cluster URL; undefined when url is not one. */
export function parseClusterUrl(url: string): ClusterUrl | undefined {
  const match = CLUSTER_URL.exec(url)
  if (match === null) {
    if (/^rediss?\+cluster:/.test(url)) throw new Error(`redis URL: expected redis+cluster://HOST:PORT[,HOST:PORT...], got ${redactUrl(url)}`)
    return undefined
  }
  const [, scheme, auth, hosts, query] = match
  const params = new URLSearchParams(query ?? '')
  for (const name of params.keys()) if (name !== 'wait') throw new Error(`redis URL: unknown option ${JSON.stringify(name)} (a cluster URL takes wait=N) in ${redactUrl(url)}`)
  const wait = Number(params.get('wait') ?? 1)
  if (!(Number.isInteger(wait) && wait >= 0)) throw new Error(`redis URL: wait expects a whole number of replicas, got ${JSON.stringify(params.get('wait'))} in ${redactUrl(url)}`)
  const nodes = hosts.split(',').map((hostPort) => {
    const at = hostPort.lastIndexOf(':')
    const port = Number(hostPort.slice(at + 1))
    if (at <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw new Error(`redis URL: cluster node ${JSON.stringify(hostPort)} is not HOST:PORT (in ${redactUrl(url)})`)
    }
    return { host: hostPort.slice(0, at).replace(/^\[(.*)\]$/, '$1'), port }
  })
  const [username, password] = auth === undefined ? [] : auth.split(':').map(decodeURIComponent)
  return { nodes, tls: scheme === 'rediss', wait, ...(username ? { username } : {}), ...(password !== undefined ? { password } : {}) }
}

/**
 * An ioredis client for sweep: a Cluster client for a `redis+cluster://` URL, typed as
 * Redis since both speak the same commands (see isCluster for where they differ).
 * maxRetriesPerRequest is null because BullMQ's blocking connections require it, and a
 * command should wait out a Redis restart (or a failover) rather than fail after a few
 * reconnect attempts.
 */
export function connectRedis(url: string, options: ConnectOptions = {}): Redis {
  const connectionName = options.name ?? 'sweep'
  const cluster = parseClusterUrl(url)
  if (cluster === undefined) return new Redis(url, { maxRetriesPerRequest: null, connectionName })
  const { nodes, tls, username, password, wait } = cluster
  const client = new Cluster(nodes, {
    redisOptions: { maxRetriesPerRequest: null, connectionName, username, password, ...(tls ? { tls: {} } : {}) },
    // a command sent while a failover promotes a replica waits for the new slot map: the
    // nodes redirect to the dead master for a few seconds, past ioredis' default 16 redirections
    maxRedirections: 100,
    retryDelayOnMoved: 200,
    retryDelayOnClusterDown: 200,
    retryDelayOnFailover: 200,
    slotsRefreshTimeout: 2000
  }) as unknown as Redis
  replicasToWaitFor.set(client, wait)
  return client
}

const replicasToWaitFor = new WeakMap<Redis, number>()

/**
 * Replicas a keystore write to key's slot waits for (WAIT) before it counts as done: a
 * cluster's replication is asynchronous, and a master that fails loses what its replica had
 * not received, so without this a failover could drop keys an import was told were stored.
 * At most the replicas the slot has, as the client last read the slot map: after a failover
 * the promoted master has none until its old master rejoins, and waiting there would
 * refuse every write to its slots while making none safer.
 */
export function replicasToConfirm(client: Redis, key: string): number {
  const wait = replicasToWaitFor.get(client) ?? 0
  if (wait === 0) return 0
  const nodes = (client as unknown as Cluster).slots[calculateSlot(key)]
  return Math.min(wait, Math.max(0, (nodes?.length ?? 1) - 1))
}

/**
 * Has a cluster client read the slot map afresh: after a failover, or once replicas that were
 * still syncing when it connected are listed. Waits at most REPLICA_WAIT_MS.
 */
export async function refreshSlotMap(client: Redis): Promise<void> {
  if (!isCluster(client)) return
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, REPLICA_WAIT_MS)
    ;(client as unknown as Cluster).refreshSlotsCache(() => { clearTimeout(timer); resolve() })
  })
}

/**
 * The servers a server-wide command (INFO, CONFIG) must reach: the one Redis, or a cluster's
 * masters ('master') or every node ('all') as the client's slot map lists them, each as a
 * client of its own. The map is not re-read here: this runs on periodic paths (the memory
 * gauge), and a re-read from a node whose view of the replicas lags would set later writes'
 * WAIT to none.
 */
export function serversOf(client: Redis, role: 'master' | 'all' = 'master'): Redis[] {
  if (!isCluster(client)) return [client]
  return (client as unknown as Cluster).nodes(role)
}

/** A client's server as `host:port`, as CLUSTER SLOTS names it. */
export function serverAddress(server: Redis): string {
  return `${server.options.host}:${server.options.port}`
}

/**
 * used_memory and maxmemory (0: none) from INFO memory. On a cluster: of the master that
 * holds key's slot when a key is given (where a write to it lands), else summed over the
 * masters, with maxmemory 0 when any master has none.
 */
export async function redisMemory(redis: Redis, key?: string): Promise<{ used: number; max: number }> {
  let servers = serversOf(redis)
  if (key !== undefined && isCluster(redis)) {
    const [address] = (redis as unknown as Cluster).slots[calculateSlot(key)] ?? []
    const owner = servers.find((server) => serverAddress(server) === address)
    if (owner !== undefined) servers = [owner]
  }
  const memories = await Promise.all(servers.map(async (server) => {
    const info = await server.info('memory')
    const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? 0)
    return { used: field('used_memory'), max: field('maxmemory') }
  }))
  return {
    used: memories.reduce((sum, m) => sum + m.used, 0),
    max: memories.some((m) => m.max === 0) ? 0 : memories.reduce((sum, m) => sum + m.max, 0)
  }
}

/** Whether client talks to a Redis Cluster, where every command and script must stay within one slot. */
export function isCluster(client: Redis): boolean {
  return client.isCluster
}

/**
 * The URL with its user and password replaced by `***`, for logs and errors: the
 * first thing an operator pastes into an issue is the error that printed it.
 */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.username === '' && parsed.password === '') return url
    parsed.username = parsed.username === '' ? '' : '***'
    parsed.password = parsed.password === '' ? '' : '***'
    return parsed.toString()
  } catch {
    // not a URL, yet it may still hold "user:password@": cut everything before the last @
    return url.replace(/\/\/[^/]*@/, '//***@')
  }
}

/**
 * Resolves once Redis answers PING. With maxRetriesPerRequest null a PING sent to an
 * unreachable server waits forever, so the wait is bounded here and the last
 * connection error becomes the reason.
 */
export async function waitForRedis(redis: Redis, url: string, timeoutMs = 10_000): Promise<void> {
  let lastError: string | undefined
  const onError = (error: Error) => { lastError = error.message || String(error) }
  redis.on('error', onError)
  let timer: NodeJS.Timeout | undefined
  try {
    const timedOut = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), timeoutMs) })
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      const answer = await Promise.race([redis.ping().catch((error: Error) => { lastError = error.message; return 'failed' }), timedOut])
      if (answer === 'PONG') return
      if (answer === 'timeout') break
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    throw new Error(`cannot reach Redis at ${redactUrl(url)}: ${lastError ?? `no answer to PING within ${timeoutMs} ms`}`)
  } finally {
    clearTimeout(timer)
    redis.off('error', onError)
  }
}
