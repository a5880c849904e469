import { createHash } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Redis } from 'ioredis'
import { connectRedis, startRedisServer, waitForRedis, type RedisServer } from '../src/index.ts'

/** A private redis-server in a temp dir with one client, for one test file. */
export interface TestRedis {
  server: RedisServer
  redis: Redis
  /** Restarts the server on the same port and dir; the client reconnects by itself. */
  restart(): Promise<void>
  close(): Promise<void>
}

export async function startTestRedis(options: { appendOnly?: boolean } = {}): Promise<TestRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'sweep-store-test-'))
  const state = { server: await startRedisServer({ dir, appendOnly: options.appendOnly }) }
  const redis = connectRedis(state.server.url, { name: 'store-test' })
  redis.on('error', () => {}) // reconnects during restart() are expected
  await waitForRedis(redis, state.server.url)
  return {
    get server() { return state.server },
    redis,
    async restart() {
      state.server = await state.server.restart()
      await waitForRedis(redis, state.server.url)
    },
    async close() {
      redis.disconnect()
      await state.server.stop()
      await rm(dir, { recursive: true, force: true })
    }
  }
}

/** A sha2-256 multihash (0x12 0x20 + 32 bytes) made from a number, so tests are repeatable. */
export function multihash(n: number, salt = ''): Buffer {
  return Buffer.concat([Buffer.from([0x12, 0x20]), createHash('sha256').update(`${salt}${n}`).digest()])
}

export function multihashes(count: number, salt = ''): Buffer[] {
  return Array.from({ length: count }, (_, i) => multihash(i, salt))
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex')
}

export function kadKey(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest()
}

/** The names of a keystore generation's bucket keys, found by SCAN. */
export async function bucketKeysOf(redis: Redis, namespace: string, generation: number): Promise<string[]> {
  const names: string[] = []
  let cursor = '0'
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${namespace}:ks:${generation}:*`, 'COUNT', 1000)
    cursor = next
    names.push(...found)
  } while (cursor !== '0')
  return names
}
