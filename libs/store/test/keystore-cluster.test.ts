import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  connectRedis, openKeystore, ScheduleStore, ShardedKeystore, startRedisCluster, waitForRedis, type RedisCluster
} from '../src/index.ts'
import { hex, multihashes } from './redis.ts'

let dir: string
let cluster: RedisCluster
let redis: Redis

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sweep-keystore-cluster-'))
  cluster = await startRedisCluster({ dir })
  redis = connectRedis(cluster.url, { name: 'keystore-cluster-test' })
  redis.on('error', () => {})
  await waitForRedis(redis, cluster.url)
}, 60_000)

afterAll(async () => {
  redis?.disconnect()
  await cluster?.stop()
  if (dir !== undefined) await rm(dir, { recursive: true, force: true })
})

/** Keys per master, read from each master itself. */
async function keysPerMaster(): Promise<number[]> {
  const masters = await cluster.masters()
  return Promise.all(masters.map(async (master) => {
    const direct = connectRedis(`redis://127.0.0.1:${master.port}`)
    try {
      return await direct.dbsize()
    } finally {
      direct.disconnect()
    }
  }))
}

describe('the keystore on a real Redis Cluster (3 masters, 3 replicas)', () => {
  it('shards itself, spreads the keys over every master, and reads, counts and marks them exactly', async () => {
    const keystore = await openKeystore(redis, { namespace: 'on-cluster', bucketBits: 12 })
    expect(keystore).toBeInstanceOf(ShardedKeystore)
    expect(keystore.shards).toHaveLength(64)
    const keys = multihashes(20_000, 'on-cluster')
    const { added, prefixes } = await keystore.addCount(keys, { markDirty: true })
    expect(added).toBe(20_000)
    expect(await keystore.addCount(keys.slice(0, 500), { once: true })).toMatchObject({ added: 0 })
    expect(await keystore.total()).toBe(20_000)
    expect(await keystore.count('')).toBe(20_000)
    expect(await keystore.count('1011')).toBeGreaterThan(1000)
    const streamed = new Set<string>()
    for await (const batch of keystore.keys('', 1000)) for (const { multihash } of batch) streamed.add(hex(multihash))
    expect(streamed).toEqual(new Set(keys.map(hex)))
    expect(await keystore.remove(keys.slice(0, 100))).toBe(100)
    expect(await keystore.recount()).toBe(19_900)

    const perMaster = await keysPerMaster()
    console.log(`keystore keys per master: ${perMaster.join(', ')}`)
    expect(perMaster).toHaveLength(3)
    // 64 shards whose slots are spread evenly over the slot space, 21 or 22 on each master
    for (const n of perMaster) expect(n / perMaster.reduce((a, b) => a + b)).toBeGreaterThan(0.25)

    const dirty = await new ScheduleStore(redis, 'on-cluster', { keystoreShards: 64 }).takeDirty()
    expect(new Set(dirty.keys())).toEqual(prefixes)
  }, 60_000)

  it('rides out a master killed mid-import: every add either stored (and kept) or failed, counts equal what is stored', async () => {
    const keystore = await openKeystore(redis, { namespace: 'failover', bucketBits: 10 })
    const batches = Array.from({ length: 60 }, (_, i) => multihashes(1000, `failover-${i}:`))
    const outcome: Array<'stored' | 'failed'> = []
    const [victim] = await cluster.masters()
    let killing: Promise<void> | undefined
    for (const [i, batch] of batches.entries()) {
      // killed while the batch's writes are on their way to it
      if (i === 10) killing = victim.kill()
      try {
        const { added } = await keystore.addCount(batch, { markDirty: true })
        expect(added).toBe(batch.length)
        outcome.push('stored')
      } catch (error) {
        console.log(`batch ${i} failed: ${(error as Error).message}`)
        outcome.push('failed')
      }
    }
    await killing
    await cluster.waitHealthy()
    expect((await cluster.masters()).map((m) => m.port)).not.toContain(victim.port)
    const stored = batches.filter((_, i) => outcome[i] === 'stored').flat()
    const failed = batches.filter((_, i) => outcome[i] === 'failed').flat()
    console.log(`failover import: ${outcome.filter((o) => o === 'stored').length} batches stored, ${outcome.filter((o) => o === 'failed').length} failed`)
    // every key of a batch reported stored survived the promotion of the replica
    for (const key of stored) expect((await keystore.lookup(key)).stored).toBe(true)
    // a failed batch may be partly stored: the rest of the set is exactly the stored batches plus some of those
    const count = await keystore.count('')
    expect(count).toBeGreaterThanOrEqual(stored.length)
    expect(count).toBeLessThanOrEqual(stored.length + failed.length)
    // the counters moved with the writes, in the same scripts: the total is what is stored
    expect(await keystore.total()).toBe(count)
    // retrying the failed batches completes the import
    for (const [i, batch] of batches.entries()) if (outcome[i] === 'failed') await keystore.addCount(batch)
    expect(await keystore.count('')).toBe(60_000)
    expect(await keystore.total()).toBe(60_000)
  }, 120_000)
})
