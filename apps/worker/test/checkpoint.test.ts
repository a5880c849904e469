/** A job's re-run sends only what its earlier runs did not get confirmed, and nothing else is skipped. */
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sha256 } from 'multiformats/hashes/sha2'
import { kadKeyOf } from '@sweep/keyspace'
import { connectRedis, startRedisServer, type RedisServer } from '@sweep/store'
import type { Peer, ProvideKey, RecordSender, SendOutcome } from '@sweep/sweep'
import type { Redis } from 'ioredis'
import { CheckpointingSender, JobCheckpoint } from '../src/checkpoint.ts'

async function keysOf(n: number, tag: string): Promise<ProvideKey[]> {
  return Promise.all(Array.from({ length: n }, async (_, i) => {
    const multihash = (await sha256.digest(new TextEncoder().encode(`${tag}-${i}`))).bytes
    return { multihash, key: kadKeyOf(multihash) }
  }))
}

const peer = (id: string): Peer => ({ id, key: kadKeyOf(new TextEncoder().encode(id)), addrs: [] })

/** A peer side that takes at most `limit` records per send (a send cut by an abort), and remembers what arrived. */
class Peers implements RecordSender {
  readonly received = new Map<string, number>()
  limit = Infinity
  async send(p: Peer, keys: readonly ProvideKey[]): Promise<SendOutcome> {
    const sent = Math.min(keys.length, this.limit)
    this.received.set(p.id, (this.received.get(p.id) ?? 0) + sent)
    return sent === keys.length ? { sent } : { sent, error: 'cut' }
  }
}

describe('JobCheckpoint', () => {
  let server: RedisServer
  let redis: Redis
  beforeAll(async () => {
    server = await startRedisServer({ dir: join(await mkdtemp(join(tmpdir(), 'sweep-checkpoint-')), 'redis') })
    redis = connectRedis(server.url, { name: 'checkpoint-test' })
  })
  afterAll(async () => {
    redis?.disconnect()
    await server?.stop()
  })

  it('skips the records a handed-back run had confirmed, sends the rest and any changed send whole', async () => {
    const keys = await keysOf(10, 'a')
    const other = await keysOf(10, 'b')
    const peers = new Peers()

    // the first run: peer a confirms 6 of 10 before the abort, peer b all 10
    const first = await JobCheckpoint.load(redis, 'ns', 'job-1')
    const routing = new CheckpointingSender()
    const signal1 = new AbortController().signal
    routing.bind(signal1, first)
    const sender = routing.sender(peers)
    peers.limit = 6
    expect(await sender.send(peer('a'), keys, { signal: signal1 })).toMatchObject({ sent: 6 })
    peers.limit = Infinity
    expect(await sender.send(peer('b'), keys, { signal: signal1 })).toEqual({ sent: 10 })

    // the re-run, in another process: a fresh load from Redis
    const second = await JobCheckpoint.load(redis, 'ns', 'job-1')
    expect(second.carried).toBe(16)
    const signal2 = new AbortController().signal
    const routing2 = new CheckpointingSender()
    routing2.bind(signal2, second)
    const resend = routing2.sender(peers)
    peers.received.clear()
    expect(await resend.send(peer('a'), keys, { signal: signal2 })).toEqual({ sent: 10 })
    expect(await resend.send(peer('b'), keys, { signal: signal2 })).toEqual({ sent: 10 })
    // another key list for b (keys added meanwhile): nothing of it may be skipped
    expect(await resend.send(peer('b'), other, { signal: signal2 })).toEqual({ sent: 10 })
    // a job without a checkpoint bound passes straight through
    expect(await resend.send(peer('c'), keys)).toEqual({ sent: 10 })
    expect(Object.fromEntries(peers.received)).toEqual({ a: 4, b: 10, c: 10 })
    expect(second.skipped).toBe(16)

    await second.clear()
    expect((await JobCheckpoint.load(redis, 'ns', 'job-1')).carried).toBe(0)
    expect(await redis.ttl('ns:checkpoint:job-1')).toBe(-2)
  })

  it('expires a checkpoint its job never cleared', async () => {
    const checkpoint = await JobCheckpoint.load(redis, 'ns', 'job-2')
    const signal = new AbortController().signal
    const routing = new CheckpointingSender()
    routing.bind(signal, checkpoint)
    await routing.sender(new Peers()).send(peer('a'), await keysOf(3, 'c'), { signal })
    await new Promise((resolve) => setTimeout(resolve, 50))
    const ttl = await redis.ttl('ns:checkpoint:job-2')
    expect(ttl).toBeGreaterThan(3000)
    expect(ttl).toBeLessThanOrEqual(3600)
  })
})
