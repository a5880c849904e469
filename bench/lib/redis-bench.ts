import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Redis } from 'ioredis'
import { connectRedis, redisMemory, startRedisCluster, startRedisServer, waitForRedis, type RedisCluster, type RedisServer } from '@sweep/store'

/** Stops the redis-server(s) a benchmark runs now. */
let stopRunning: (() => Promise<void>) | undefined
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  // the redis-server children would outlive an interrupted benchmark
  process.once(signal, () => { void (stopRunning?.() ?? Promise.resolve()).finally(() => process.exit(130)) })
}

/** Runs fn against a fresh private redis-server (AOF off) in a temp dir, removed afterwards. */
export async function withRedisServer<T>(name: string, fn: (redis: Redis, server: RedisServer) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), `sweep-${name}-`))
  const server = await startRedisServer({ dir, appendOnly: false })
  stopRunning = () => server.kill()
  const redis = connectRedis(server.url, { name })
  try {
    await waitForRedis(redis, server.url)
    return await fn(redis, server)
  } finally {
    redis.disconnect()
    await server.stop()
    stopRunning = undefined
    await rm(dir, { recursive: true, force: true })
  }
}

/**
 * Runs fn against a fresh private Redis Cluster (3 masters, 3 replicas, AOF off) in a temp
 * dir, with a plain client of each master, for what must be read per node.
 */
export async function withRedisCluster<T>(fn: (cluster: RedisCluster, masters: Redis[]) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'sweep-bench-cluster-'))
  const cluster = await startRedisCluster({ dir, appendOnly: false })
  stopRunning = () => cluster.stop()
  const masters = (await cluster.masters()).map((m) => connectRedis(`redis://127.0.0.1:${m.port}`, { name: 'bench-master' }))
  try {
    return await fn(cluster, masters)
  } finally {
    for (const master of masters) master.disconnect()
    await cluster.stop()
    stopRunning = undefined
    await rm(dir, { recursive: true, force: true })
  }
}

/** Redis' used_memory. */
export async function usedMemory(redis: Redis): Promise<number> {
  return (await redisMemory(redis)).used
}

/** A batch of sha2-256 multihashes (0x12 0x20 + 32 random bytes) as views of one allocation. */
export function randomMultihashes(count: number): Buffer[] {
  const block = randomBytes(count * 34)
  const out: Buffer[] = []
  for (let i = 0; i < count; i++) {
    const multihash = block.subarray(i * 34, (i + 1) * 34)
    multihash[0] = 0x12
    multihash[1] = 0x20
    out.push(multihash)
  }
  return out
}

export async function memoryInfo(redis: Redis): Promise<Record<string, string>> {
  const text = await redis.info('memory')
  return Object.fromEntries(text.split('\r\n').filter((line) => line.includes(':')).map((line) => line.split(':', 2) as [string, string]))
}
