import { keyHasPrefix, prefixOf } from '@sweep/keyspace'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  Keystore, openKeystore, ScheduleStore, shardTag, ShardedKeystore, ShardedResetError, storeKeys, type AnyKeystore
} from '../src/index.ts'
import { hex, kadKey, multihashes, startTestRedis, type TestRedis } from './redis.ts'

let t: TestRedis
beforeAll(async () => { t = await startTestRedis() })
afterAll(async () => { await t.close() })

async function stream(keystore: AnyKeystore, prefix: string): Promise<string[]> {
  const keys: string[] = []
  for await (const batch of keystore.keys(prefix, 97)) for (const { multihash } of batch) keys.push(hex(multihash))
  return keys
}

/** Every key name in Redis matching pattern. */
async function keyNames(pattern: string): Promise<string[]> {
  const names: string[] = []
  let cursor = '0'
  do {
    const [next, found] = await t.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
    cursor = next
    names.push(...found)
  } while (cursor !== '0')
  return names
}

describe('ShardedKeystore', () => {
  it('splits writes by shard and reads any prefix back whole, in keyspace order, with exact counts', async () => {
    const keystore = await openKeystore(t.redis, { namespace: 'sharded', shards: 8, bucketBits: 6 })
    expect(keystore).toBeInstanceOf(ShardedKeystore)
    const keys = multihashes(4000, 'sharded')
    const [permanent, once] = [keys.slice(0, 3000), keys.slice(3000)]
    expect((await keystore.addCount(permanent.slice(0, 2000), { markDirty: true })).added).toBe(2000)
    expect((await keystore.add(permanent.slice(1500))).map(hex)).toEqual(permanent.slice(2000).map(hex))
    expect((await keystore.addCount(once, { once: true })).added).toBe(1000)
    expect(await keystore.total()).toBe(4000)
    expect(await keystore.count('')).toBe(4000)

    for (const prefix of ['', '0', '101', '0110', '11010', '1001101']) {
      const expected = keys.filter((key) => keyHasPrefix(kadKey(key), prefix)).map(hex)
      expect(await keystore.count(prefix)).toBe(expected.length)
      const streamed = await stream(keystore, prefix)
      expect(new Set(streamed)).toEqual(new Set(expected))
      expect(streamed).toHaveLength(expected.length)
      // shard after shard: the first 3 bits never go back
      const shardOrder = streamed.map((key) => prefixOf(kadKey(Buffer.from(key, 'hex')), 3))
      expect(shardOrder).toEqual([...shardOrder].sort())
    }
    expect(await keystore.lookup(once[0])).toEqual({ stored: true, once: true })
    expect(await keystore.lookup(permanent[0])).toEqual({ stored: true, once: false })
    expect(await keystore.removeOnce(keys.slice(2900, 3100))).toBe(100)
    expect(await keystore.remove(keys.slice(0, 10))).toBe(10)
    expect(await keystore.total()).toBe(3890)
    expect(await keystore.recount()).toBe(3890)
    const sample = await keystore.sample(50)
    expect(new Set(sample.map(hex)).size).toBe(50)
    const stored = new Set(keys.slice(10, 3000).concat(keys.slice(3100)).map(hex))
    for (const key of sample) expect(stored.has(hex(key))).toBe(true)
  })

  it('keeps each shard in its own hash tag: buckets hold only their shard\'s keys, and the leader takes every shard\'s marks', async () => {
    const keystore = await openKeystore(t.redis, { namespace: 'tags', shards: 4, bucketBits: 5 }) as ShardedKeystore
    const keys = multihashes(1000, 'tags')
    const { prefixes } = await keystore.addCount(keys, { markDirty: true })
    for (let shard = 0; shard < 4; shard++) {
      const buckets = await keyNames(`{tags/${shard}.*}:ks:*`)
      expect(buckets.length).toBeGreaterThan(0)
      for (const bucket of buckets) {
        for (const member of await t.redis.hkeysBuffer(bucket)) expect(prefixOf(kadKey(member), 2)).toBe(shard.toString(2).padStart(2, '0'))
      }
    }
    // nothing of the keystore outside the shards' tags but the shard count
    expect(await keyNames('tags:ks:*')).toEqual([])
    expect(await t.redis.hgetall(storeKeys('tags').keystoreConfig)).toEqual({ shards: '4' })
    const dirty = await new ScheduleStore(t.redis, 'tags', { keystoreShards: 4 }).takeDirty()
    expect(new Set(dirty.keys())).toEqual(prefixes)
    expect(prefixes.size).toBe(32)
    expect(await new ScheduleStore(t.redis, 'tags', { keystoreShards: 4 }).takeDirty()).toEqual(new Map())
  })

  it('re-buckets one shard online while the others keep their bits, losing no key', async () => {
    const keystore = await openKeystore(t.redis, { namespace: 'grow-shard', shards: 4, bucketBits: 4 }) as ShardedKeystore
    const keys = multihashes(3000, 'grow-shard')
    await keystore.addCount(keys)
    // a shard's keys fill only its quarter of the buckets
    expect((await keystore.shards[1].bitsWanted()).perBucket).toBeCloseTo(await keystore.shards[1].total() / 4, 5)
    const rebucketing = await keystore.shards[1].beginRebucket(7)
    const outcome = await rebucketing!.run({ drainMs: 50 })
    expect(outcome.membersCopied).toBe(await keystore.shards[1].total())
    expect(await Promise.all(keystore.shards.map((shard) => shard.currentBits()))).toEqual([4, 7, 4, 4])
    expect(await keystore.currentBits()).toBe(4)
    expect(await keystore.count('')).toBe(3000)
    expect(new Set(await stream(keystore, ''))).toEqual(new Set(keys.map(hex)))
    expect(await keyNames('{grow-shard/1.*}:ks:0:*')).toHaveLength(0)
    // only shard 1's own buckets were made at 7 bits: 2^5 of the 2^7
    const made = await keyNames('{grow-shard/1.*}:ks:1:*')
    expect(made.length).toBeGreaterThan(16)
    for (const name of made) expect(parseInt(name.split(':').at(-1)!, 16) >> 5).toBe(1)
  })

  it('gives shard i of n a tag in the i-th n-th of the cluster slots, the same in every process', async () => {
    const calculateSlot = (await import('cluster-key-slot')).default
    for (const count of [2, 64, 1024]) {
      for (let index = 0; index < count; index += Math.max(1, count / 16)) {
        const tag = shardTag('sweep', { index, count })
        expect(tag).toMatch(new RegExp(`^\\{sweep/${index}\\.\\d+\\}$`))
        const slot = calculateSlot(tag.slice(1, -1))
        expect(slot).toBeGreaterThanOrEqual(Math.floor(index * 16384 / count))
        expect(slot).toBeLessThan(Math.floor((index + 1) * 16384 / count))
        expect(calculateSlot(`${tag}:store:ks:config`)).toBe(slot)
      }
    }
    expect(shardTag('other', { index: 5, count: 64 })).not.toBe(shardTag('sweep', { index: 5, count: 64 }))
    expect(() => shardTag('sweep', { index: 64, count: 64 })).toThrow(/shard: expected an index below a count/)
  })

  it('keeps a keystore made before shards as it is, and says a sharded one has no reset', async () => {
    const plain = await Keystore.open(t.redis, { namespace: 'legacy' })
    await plain.add(multihashes(10, 'legacy'))
    const reopened = await openKeystore(t.redis, { namespace: 'legacy', shards: 16 })
    expect(reopened).toBeInstanceOf(Keystore)
    expect(await reopened.total()).toBe(10)
    expect(reopened.warnings.join('\n')).toMatch(/created with 1 shard\(s\); the 16 asked for apply only to a new namespace/)

    const sharded = await openKeystore(t.redis, { namespace: 'no-reset', shards: 2 })
    await expect(sharded.beginReset()).rejects.toBeInstanceOf(ShardedResetError)
    await expect(openKeystore(t.redis, { namespace: 'bad', shards: 3 })).rejects.toThrow(/shards: expected a power of two from 1 to 1024, at most 2\^bucketBits, got 3/)
    await expect(openKeystore(t.redis, { namespace: 'missing', create: false })).rejects.toThrow(/no keystore in namespace "missing"/)
  })
})
