import fc from 'fast-check'
import { keyHasPrefix, prefixOf } from '@sweep/keyspace'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bucketBitsFor, bucketKey, Keystore, KeystoreMissingError, type StoredKey } from '../src/index.ts'
import { hex, kadKey, multihash, multihashes, startTestRedis, type TestRedis } from './redis.ts'

let t: TestRedis
beforeAll(async () => { t = await startTestRedis() })
afterAll(async () => { await t.close() })

async function collect(keystore: Keystore, prefix: string, batchSize: number): Promise<StoredKey[][]> {
  const batches: StoredKey[][] = []
  for await (const batch of keystore.keys(prefix, batchSize)) batches.push(batch)
  return batches
}

describe('Keystore add, remove, lookup', () => {
  it('returns only the keys that were new, counting duplicates within a call once', async () => {
    const keystore = await Keystore.open(t.redis, { namespace: 'add' })
    const [a, b, c] = multihashes(3)
    expect((await keystore.add([a, b, a])).map(hex)).toEqual([hex(a), hex(b)])
    expect((await keystore.add([b, c, c])).map(hex)).toEqual([hex(c)])
    expect(await keystore.add([a, b, c])).toEqual([])
    expect(await keystore.total()).toBe(3)
    expect(await keystore.count('')).toBe(3)
  })

  it('keeps once keys apart: once never downgrades, a plain add upgrades without being new', async () => {
    const keystore = await Keystore.open(t.redis, { namespace: 'once' })
    const [permanent, once, upgraded] = multihashes(3, 'once')
    await keystore.add([permanent])
    expect(await keystore.add([permanent, once, upgraded], { once: true })).toHaveLength(2)
    expect(await keystore.lookup(permanent)).toEqual({ stored: true, once: false })
    expect(await keystore.lookup(once)).toEqual({ stored: true, once: true })
    expect(await keystore.add([upgraded])).toEqual([])
    expect(await keystore.lookup(upgraded)).toEqual({ stored: true, once: false })

    const flags = new Map((await collect(keystore, '', 100)).flat().map((k) => [hex(k.multihash), k.once]))
    expect(flags).toEqual(new Map([[hex(permanent), false], [hex(once), true], [hex(upgraded), false]]))

    // only the still-once key goes
    expect(await keystore.removeOnce([permanent, once, upgraded])).toBe(1)
    expect(await keystore.lookup(once)).toEqual({ stored: false, once: false })
    expect(await keystore.total()).toBe(2)
  })

  it('remove counts only keys that were present and keeps the counter exact', async () => {
    const keystore = await Keystore.open(t.redis, { namespace: 'remove', bucketBits: 8 })
    const keys = multihashes(500, 'rm')
    expect(await keystore.add(keys)).toHaveLength(500)
    expect(await keystore.remove([...keys.slice(0, 100), ...keys.slice(0, 10), multihash(1, 'absent')])).toBe(100)
    expect(await keystore.lookup(keys[0])).toEqual({ stored: false, once: false })
    expect(await keystore.lookup(keys[100])).toEqual({ stored: true, once: false })
    expect(await keystore.total()).toBe(400)
    expect(await keystore.count('')).toBe(400)
  })

  it('adds more members to one bucket than one script call carries', async () => {
    const keystore = await Keystore.open(t.redis, { namespace: 'big-bucket', bucketBits: 1 })
    const keys = multihashes(2500, 'big')
    expect(await keystore.add(keys)).toHaveLength(2500)
    expect(await keystore.add(keys.slice(0, 1500))).toEqual([])
    expect(await keystore.count('0')).toBe(keys.filter((k) => kadKey(k)[0] < 128).length)
    expect(await keystore.remove(keys.slice(0, 2000))).toBe(2000)
    expect(await keystore.total()).toBe(500)
  })

  it('rejects empty multihashes naming their position', async () => {
    const keystore = await Keystore.open(t.redis, { namespace: 'bad' })
    await expect(keystore.add([multihash(1), new Uint8Array(0)])).rejects.toThrow('multihashes[1]: expected non-empty bytes')
  })
})

describe('Keystore count and keys under a prefix', () => {
  it('count matches a brute-force count for prefixes shorter and longer than bucketBits', async () => {
    let run = 0
    await fc.assert(fc.asyncProperty(
      fc.uniqueArray(fc.integer({ min: 0, max: 100_000 }), { minLength: 0, maxLength: 300 }),
      fc.array(fc.stringMatching(/^[01]{0,11}$/), { minLength: 1, maxLength: 6 }),
      async (ids, prefixes) => {
        const keystore = await Keystore.open(t.redis, { namespace: `prop${run++}`, bucketBits: 6 })
        const keys = ids.map((id) => multihash(id, 'prop'))
        await keystore.add(keys)
        for (const prefix of prefixes) {
          const expected = keys.filter((k) => keyHasPrefix(kadKey(k), prefix)).length
          expect(await keystore.count(prefix)).toBe(expected)
        }
      }
    ), { numRuns: 25 })
  })

  it('keys(prefix) yields exactly the keys under prefix, in batches of at most batchSize', async () => {
    const keystore = await Keystore.open(t.redis, { namespace: 'keys', bucketBits: 8 })
    const keys = multihashes(3000, 'keys')
    await keystore.add(keys)
    for (const prefix of ['', '1', '0110', '10110011', '1011001101', '01011100101']) {
      for (const batchSize of [1, 7, 500]) {
        if (batchSize === 1 && prefix.length < 4) continue // thousands of one-key batches prove nothing new
        const batches = await collect(keystore, prefix, batchSize)
        const got = batches.flat()
        for (const batch of batches) expect(batch.length).toBeGreaterThan(0)
        for (const batch of batches) expect(batch.length).toBeLessThanOrEqual(batchSize)
        const expected = keys.filter((k) => keyHasPrefix(kadKey(k), prefix)).map(hex).sort()
        expect(got.map((k) => hex(k.multihash)).sort()).toEqual(expected)
        for (const k of got) expect(hex(k.key)).toBe(hex(kadKey(k.multihash)))
      }
    }
    // batches fill up: only the last may be short
    const batches = await collect(keystore, '', 500)
    expect(batches.slice(0, -1).every((b) => b.length === 500)).toBe(true)
  })

  it('stores buckets listpack-encoded and names them without a hash tag', async () => {
    const keystore = await Keystore.open(t.redis, { namespace: 'encoding' })
    const keys = multihashes(2000, 'enc')
    await keystore.add(keys)
    const bucket = parseInt(prefixOf(kadKey(keys[0]), 16), 2)
    const name = bucketKey('encoding', 0, bucket, 16)
    expect(name).toMatch(/^encoding:ks:0:[0-9a-f]{4}$/)
    expect(await t.redis.hexists(name, keys[0])).toBe(1)
    expect(await t.redis.object('ENCODING', name)).toBe('listpack')
    expect(keystore.warnings).toEqual([])
  })
})

describe('Keystore settings and sampling', () => {
  it('persists bucketBits; a larger explicit value asks for a re-bucketing, a smaller one keeps what is stored', async () => {
    const first = await Keystore.open(t.redis, { namespace: 'bits', bucketBits: 10 })
    expect(first.bucketBits).toBe(10)
    expect((await Keystore.open(t.redis, { namespace: 'bits' })).bucketBits).toBe(10)
    const larger = await Keystore.open(t.redis, { namespace: 'bits', bucketBits: 12 })
    expect(larger.bucketBits).toBe(10)
    expect(await larger.bitsWanted()).toEqual({ current: 10, wanted: 12, perBucket: 0 })
    expect(await (await Keystore.open(t.redis, { namespace: 'bits', bucketBits: 8 })).bitsWanted()).toEqual({ current: 10, wanted: 10, perBucket: 0 })
    await expect(Keystore.open(t.redis, { namespace: 'bits2', bucketBits: 30 })).rejects.toThrow('bucketBits: expected an integer from 1 to 24')
  })

  it('opened with create: false, waits for its creator: it neither creates a keystore nor fixes its bucketBits', async () => {
    await expect(Keystore.open(t.redis, { namespace: 'later', create: false })).rejects.toThrow(KeystoreMissingError)
    // the worker's failed open left nothing, so the coordinator's bucketBits still apply
    expect((await Keystore.open(t.redis, { namespace: 'later', bucketBits: 17 })).bucketBits).toBe(17)
    expect((await Keystore.open(t.redis, { namespace: 'later', create: false })).bucketBits).toBe(17)
  })

  it('wants more bits once its buckets average past 800 keys, enough for twice the set', async () => {
    const crowded = await Keystore.open(t.redis, { namespace: 'crowded', bucketBits: 4 })
    await crowded.addCount(multihashes(12_000, 'crowded'))
    expect(await crowded.bitsWanted()).toEqual({ current: 4, wanted: 4, perBucket: 750 })
    await crowded.addCount(multihashes(1000, 'crowded-more'))
    expect(await crowded.bitsWanted()).toEqual({ current: 4, wanted: bucketBitsFor(26_000), perBucket: 812.5 })
  })

  it('suggests bucketBits that keep a set of any size near 800 keys per bucket', () => {
    expect([1, 10e6, 50e6, 53e6, 100e6, 1e9, 20e9].map(bucketBitsFor)).toEqual([16, 16, 16, 17, 17, 21, 24])
    fc.assert(fc.property(fc.integer({ min: 60_000_000, max: 13_000_000_000 }), (keys) => {
      const perBucket = keys / 2 ** bucketBitsFor(keys)
      return perBucket <= 800 && perBucket > 400
    }))
  })

  it('raises hash-max-listpack-entries when it is too low', async () => {
    await t.redis.config('SET', 'hash-max-listpack-entries', '128')
    const keystore = await Keystore.open(t.redis, { namespace: 'config' })
    expect(keystore.warnings).toEqual([])
    expect(await t.redis.config('GET', 'hash-max-listpack-entries')).toEqual(['hash-max-listpack-entries', '1024'])
  })

  it('samples distinct stored keys, from small and from large sets', async () => {
    const small = await Keystore.open(t.redis, { namespace: 'sample-small', bucketBits: 8 })
    const few = multihashes(5, 'few')
    await small.add(few)
    expect((await small.sample(10)).map(hex).sort()).toEqual(few.map(hex).sort())

    const large = await Keystore.open(t.redis, { namespace: 'sample-large', bucketBits: 4 })
    const many = multihashes(2000, 'many')
    await large.add(many)
    const stored = new Set(many.map(hex))
    const sample = (await large.sample(50)).map(hex)
    expect(new Set(sample).size).toBe(50)
    for (const key of sample) expect(stored.has(key)).toBe(true)
  })

  it('recount repairs a counter that drifted', async () => {
    const keystore = await Keystore.open(t.redis, { namespace: 'recount', bucketBits: 8 })
    await keystore.add(multihashes(123, 'recount'))
    await t.redis.set('{recount}:store:ks:total:0', 7)
    expect(await keystore.total()).toBe(7)
    expect(await keystore.recount()).toBe(123)
    expect(await keystore.total()).toBe(123)
  })
})
