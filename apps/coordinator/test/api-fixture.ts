/** Real API servers on a real Redis for the api-*.test.ts files, with the timings a test wants. */
import { randomBytes } from 'node:crypto'
import { request } from 'node:http'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Redis } from 'ioredis'
import pino from 'pino'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { create as createDigest } from 'multiformats/hashes/digest'
import { kadKeyOf } from '@sweep/keyspace'
import { RegionQueue } from '@sweep/queue'
import { connectRedis, LeaderLease, openKeystore, ScheduleStore, startRedisServer, waitForRedis, type AnyKeystore, type RedisServer } from '@sweep/store'
import { startApiServer, type ApiServer } from '../src/api/server.ts'

export interface TestRedis {
  readonly server: RedisServer
  stop(): Promise<void>
}

export async function startTestRedis(name: string): Promise<TestRedis> {
  const dir = await mkdtemp(join(tmpdir(), `sweep-${name}-`))
  const server = await startRedisServer({ dir, appendOnly: false })
  return {
    server,
    async stop() {
      await server.stop()
      await rm(dir, { recursive: true, force: true })
    }
  }
}

export interface ApiOptions {
  readonly namespace: string
  readonly token?: string
  readonly host?: string
  readonly maxBodyBytes?: number
  /** The keystore's reset lock TTL (60 s in production). */
  readonly resetLockTtlMs?: number
  readonly uploadIdleMs?: number
  readonly drainGraceMs?: number
  /** How often /v1/events sends a snapshot. */
  readonly eventIntervalMs?: number
  /** Keystore shards of a namespace created here (as on a Redis Cluster). */
  readonly shards?: number
}

export interface TestApi {
  readonly url: string
  readonly keystore: AnyKeystore
  readonly schedule: ScheduleStore
  readonly lease: LeaderLease
  readonly redis: Redis
  close(): Promise<void>
}

/** One coordinator's API server (no scheduler) with its own Redis connection. */
export async function startTestApi(redisUrl: string, options: ApiOptions): Promise<TestApi> {
  const redis = connectRedis(redisUrl, { name: `api-test-${options.namespace}` })
  await waitForRedis(redis, redisUrl)
  const keystore = await openKeystore(redis, { namespace: options.namespace, resetLockTtlMs: options.resetLockTtlMs, shards: options.shards })
  const queue = new RegionQueue({ redisUrl, namespace: options.namespace })
  const schedule = new ScheduleStore(redis, options.namespace, { keystoreShards: keystore.shards.length })
  const lease = new LeaderLease(redis, { namespace: options.namespace, id: `api-test-${randomBytes(3).toString('hex')}` })
  const server: ApiServer = await startApiServer({
    keystore, schedule, queue, lease,
    log: pino({ level: 'silent' }), token: options.token, maxBodyBytes: options.maxBodyBytes ?? 64 * 1024 * 1024,
    intervalMs: 22 * 3_600_000, self: kadKeyOf(new TextEncoder().encode('api-test')), k: 20,
    uploadIdleMs: options.uploadIdleMs, drainGraceMs: options.drainGraceMs, eventIntervalMs: options.eventIntervalMs
  }, options.host ?? '127.0.0.1', 0)
  return {
    url: server.url,
    keystore,
    schedule,
    lease,
    redis,
    async close() {
      await server.close()
      await queue.close()
      redis.disconnect()
    }
  }
}

/** n distinct sha2-256 CIDs (raw codec), repeatable from seed. */
export function cids(n: number, seed = 0): string[] {
  const out: string[] = []
  for (let i = 0; i < n; i++) {
    const digest = Buffer.alloc(32)
    digest.writeUInt32BE(seed, 0)
    digest.writeUInt32BE(i, 4)
    out.push(CID.createV1(raw.code, createDigest(0x12, digest)).toString())
  }
  return out
}

export async function api<T = Record<string, unknown>>(url: string, path: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(url + path, init)
  return { status: res.status, body: await res.json() as T }
}

/**
 * A POST through node:http, which writes the body as given: fetch copies a Buffer body first,
 * which would count a second body in this process' memory.
 */
export function postRaw(url: string, path: string, contentType: string, body: Buffer): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(url + path, { method: 'POST', headers: { 'content-type': contentType, 'content-length': body.length } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown> }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}
