import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Redis } from 'ioredis'
import { connectRedis, startRedisServer, waitForRedis, type RedisServer } from '@sweep/store'

let running: RedisServer | undefined
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  // the redis-server child would outlive an interrupted benchmark
  process.once(signal, () => { void (running?.kill() ?? Promise.resolve()).finally(() => process.exit(130)) })
}

/** Runs fn against a fresh private redis-server (AOF off) in a temp dir, removed afterwards. */
export async function withRedisServer<T>(name: string, fn: (redis: Redis, server: RedisServer) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), `sweep-${name}-`))
  const server = await startRedisServer({ dir, appendOnly: false })
  running = server
  const redis = connectRedis(server.url, { name })
  try {
    await waitForRedis(redis, server.url)
    return await fn(redis, server)
  } finally {
    redis.disconnect()
    await server.stop()
    running = undefined
    await rm(dir, { recursive: true, force: true })
  }
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
