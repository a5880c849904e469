import { hash, randomBytes } from 'node:crypto'
import fc from 'fast-check'
import { prefixOf } from '@sweep/keyspace'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Keystore, ScheduleStore } from '../src/index.ts'
import { sha256Head } from '../src/bucket-hash.ts'
import { packMultihashes, planPackedCalls } from '../src/packed-add.ts'
import { hex, kadKey, multihash, multihashes, startTestRedis, type TestRedis } from './redis.ts'

let t: TestRedis
beforeAll(async () => { t = await startTestRedis() })
afterAll(async () => { await t.close() })

function bucketOf(key: Uint8Array, bucketBits: number): number {
  return parseInt(prefixOf(kadKey(key), bucketBits), 2)
}

describe('sha256Head', () => {
  it('is the first 32 bits of SHA-256 for every length, one block or more', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 130 }), (bytes) => {
      expect(sha256Head(bytes)).toBe(hash('sha256', bytes, 'buffer').readUInt32BE(0))
      const framed = Buffer.concat([randomBytes(3), bytes, randomBytes(2)])
      expect(sha256Head(framed, 3, 3 + bytes.length)).toBe(hash('sha256', bytes, 'buffer').readUInt32BE(0))
    }), { numRuns: 2000 })
    for (let n = 0; n <= 70; n++) {
      const bytes = randomBytes(n)
      expect(sha256Head(bytes)).toBe(hash('sha256', bytes, 'buffer').readUInt32BE(0))
    }
  })
})

describe('planPackedCalls', () => {
  it('packs every member once, grouped by its bucket, at most maxMembers per call', () => {
    fc.assert(fc.property(fc.array(fc.uint8Array({ minLength: 1, maxLength: 40 }), { maxLength: 200 }), fc.integer({ min: 1, max: 20 }), fc.constantFrom(1, 3, 8, 16, 17, 24), (keys, maxMembers, bucketBits) => {
      const calls = planPackedCalls(packMultihashes(keys), bucketBits, maxMembers)
      const seen: string[] = []
      for (const call of calls) {
        let at = 0
        let members = 0
        for (const bucket of call.buckets) {
          const count = call.members.readUInt16BE(at)
          at += 2
          for (let i = 0; i < count; i++) {
            const length = call.members.readUInt16BE(at)
            const member = call.members.subarray(at + 2, at + 2 + length)
            expect(bucketOf(member, bucketBits)).toBe(bucket)
            seen.push(hex(member))
            at += 2 + length
          }
          members += count
        }
        expect(at).toBe(call.members.length)
        expect(members).toBeLessThanOrEqual(maxMembers)
      }
      expect(seen.sort()).toEqual(keys.map(hex).sort())
    }), { numRuns: 300 })
  })

  it('names the position of a multihash it cannot carry', () => {
    expect(() => packMultihashes([multihash(1), new Uint8Array(0)])).toThrow('multihashes[1]: expected 1 to 65535 bytes, got 0 bytes')
  })
})

describe('Keystore.addCount', () => {
  it('counts new keys once, returns their buckets\' prefixes, and keeps the total', async () => {
    const keystore = await Keystore.open(t.redis, { namespace: 'count', bucketBits: 10 })
    const keys = multihashes(3000, 'count')
    const first = await keystore.addCount([...keys.slice(0, 2000), ...keys.slice(0, 10)])
    expect(first.added).toBe(2000)
    expect(first.prefixes).toEqual(new Set(keys.slice(0, 2000).map((k) => keystore.bucketPrefix(bucketOf(k, 10)))))
    const second = await keystore.addCount(keys)
    expect(second.added).toBe(1000)
    expect(second.prefixes).toEqual(new Set(keys.slice(2000).map((k) => keystore.bucketPrefix(bucketOf(k, 10)))))
    expect(await keystore.addCount(keys)).toEqual({ added: 0, prefixes: new Set() })
    expect(await keystore.total()).toBe(3000)
    expect(await keystore.count('')).toBe(3000)
    expect(keystore.bucketPrefix(5)).toBe('0000000101')
  })

  it('keeps the once rules of add: once never touches a stored key, a plain add upgrades without counting', async () => {
    const keystore = await Keystore.open(t.redis, { namespace: 'count-once' })
    const [permanent, once, upgraded] = multihashes(3, 'count-once')
    await keystore.addCount([permanent])
    expect((await keystore.addCount([permanent, once, upgraded], { once: true })).added).toBe(2)
    expect(await keystore.lookup(permanent)).toEqual({ stored: true, once: false })
    expect(await keystore.lookup(once)).toEqual({ stored: true, once: true })
    expect(await keystore.addCount([upgraded])).toEqual({ added: 0, prefixes: new Set() })
    expect(await keystore.lookup(upgraded)).toEqual({ stored: true, once: false })
    expect(await keystore.total()).toBe(3)
  })

  it('carries more members of one bucket than a script call holds, and members of any length', async () => {
    const keystore = await Keystore.open(t.redis, { namespace: 'count-big', bucketBits: 1 })
    const keys = [...multihashes(2500, 'big'), ...Array.from({ length: 50 }, (_, i) => randomBytes(1 + i * 3))]
    expect((await keystore.addCount(keys)).added).toBe(2550)
    expect(await keystore.addCount(keys.slice(0, 1500))).toEqual({ added: 0, prefixes: new Set() })
    expect(await keystore.count('0')).toBe(keys.filter((k) => kadKey(k)[0] < 128).length)
    for (const key of keys.slice(2500)) expect(await keystore.lookup(key)).toEqual({ stored: true, once: false })
  })

  it('agrees with add() and a model over random adds, once or not', async () => {
    let round = 0
    await fc.assert(fc.asyncProperty(
      fc.array(fc.record({ keys: fc.array(fc.nat(30), { maxLength: 25 }), once: fc.boolean(), counted: fc.boolean() }), { maxLength: 8 }),
      async (steps) => {
        const keystore = await Keystore.open(t.redis, { namespace: `count-model-${round++}`, bucketBits: 3 })
        const model = new Map<number, boolean>() // key → once
        for (const { keys, once, counted } of steps) {
          const batch = keys.map((n) => multihash(n, 'model'))
          let expected = 0
          for (const n of new Set(keys)) {
            if (!model.has(n)) {
              model.set(n, once)
              expected++
            } else if (!once) model.set(n, false)
          }
          const added = counted ? (await keystore.addCount(batch, { once })).added : (await keystore.add(batch, { once })).length
          expect(added).toBe(expected)
        }
        expect(await keystore.total()).toBe(model.size)
        for (const [n, once] of model) expect(await keystore.lookup(multihash(n, 'model'))).toEqual({ stored: true, once })
      }), { numRuns: 25 })
  })

  it('with markDirty, marks exactly the buckets that got new keys, each with Redis\' clock at its newest mark', async () => {
    const keystore = await Keystore.open(t.redis, { namespace: 'count-dirty', bucketBits: 6 })
    const schedule = new ScheduleStore(t.redis, 'count-dirty')
    const keys = multihashes(40, 'dirty')
    const redisMicros = async (): Promise<number> => { const [s, us] = await t.redis.time(); return Number(s) * 1e6 + Number(us) }
    await keystore.addCount(keys.slice(0, 20))
    const beforeRegion = await redisMicros()
    await schedule.markDirty(['01'])
    const beforeAdd = await redisMicros()

    const outcome = await keystore.addCount(keys, { markDirty: true })
    const afterAdd = await redisMicros()
    const expected = [...new Set(keys.slice(20).map((k) => prefixOf(kadKey(k), 6)))]
    expect([...outcome.prefixes].sort()).toEqual(expected.sort())
    const marks = await schedule.takeDirty()
    expect([...marks.keys()]).toEqual(['01', ...expected].sort())
    expect(marks.get('01')).toBeGreaterThanOrEqual(beforeRegion)
    expect(marks.get('01')).toBeLessThanOrEqual(beforeAdd)
    for (const prefix of expected) {
      expect(marks.get(prefix)).toBeGreaterThanOrEqual(beforeAdd)
      expect(marks.get(prefix)).toBeLessThanOrEqual(afterAdd)
    }

    // a later mark of the same bucket replaces the earlier
    await keystore.addCount([multihash(40, 'dirty')], { markDirty: true })
    const [[, again]] = [...await schedule.takeDirty()]
    expect(again).toBeGreaterThan(afterAdd)

    // nothing new, nothing marked
    await keystore.addCount(keys, { markDirty: true })
    expect(await schedule.takeDirty()).toEqual(new Map())
  })
})
