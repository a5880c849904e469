import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bucketKey, Keystore } from '../src/index.ts'
import { bucketKeysOf, hex, multihashes, startTestRedis, type TestRedis } from './redis.ts'

let t: TestRedis
beforeAll(async () => { t = await startTestRedis() })
afterAll(async () => { await t.close() })

async function stored(keystore: Keystore): Promise<string[]> {
  const out: string[] = []
  for await (const batch of keystore.keys('', 1000)) for (const k of batch) out.push(hex(k.multihash))
  return out.sort()
}

async function bucketsOfGeneration(namespace: string, generation: number): Promise<number> {
  return (await bucketKeysOf(t.redis, namespace, generation)).length
}

describe('Keystore reset', () => {
  it('builds the new set beside the old one and switches on commit', async () => {
    const keystore = await Keystore.open(t.redis, { namespace: 'reset', bucketBits: 8 })
    const old = multihashes(300, 'old')
    const fresh = multihashes(200, 'new')
    await keystore.add(old)

    const reset = await keystore.beginReset()
    // 100 kept from the old set, 200 new, and a duplicate inside the reset
    expect(await reset.add([...old.slice(0, 100), fresh[0]])).toBe(101)
    expect(await reset.add(fresh)).toBe(199)
    expect(await stored(keystore)).toEqual(old.map(hex).sort())
    expect(await keystore.total()).toBe(300)

    expect(await reset.commit()).toEqual({ total: 300, removed: 200, added: 200 })
    const expected = [...old.slice(0, 100), ...fresh].map(hex).sort()
    expect(await stored(keystore)).toEqual(expected)
    expect(await keystore.total()).toBe(300)
    expect(await keystore.lookup(old[150])).toEqual({ stored: false, once: false })

    await reset.cleaned
    expect(await bucketsOfGeneration('reset', 0)).toBe(0)
    expect(await t.redis.smembers('{reset}:store:ks:generations')).toEqual([String(reset.generation)])
    await expect(reset.add(fresh)).rejects.toThrow('already committed')

    // a second keystore handle sees the switch too: generations are read per call
    const other = await Keystore.open(t.redis, { namespace: 'reset' })
    expect(await stored(other)).toEqual(expected)
  })

  it('allows one reset at a time', async () => {
    const keystore = await Keystore.open(t.redis, { namespace: 'one-reset', bucketBits: 4 })
    const reset = await keystore.beginReset()
    await expect(keystore.beginReset()).rejects.toThrow('a reset is already in progress')
    await reset.abort()
    const next = await keystore.beginReset()
    await next.abort()
  })

  it('abort keeps the old set and deletes the new generation', async () => {
    const keystore = await Keystore.open(t.redis, { namespace: 'abort', bucketBits: 6 })
    const old = multihashes(50, 'abort-old')
    await keystore.add(old)
    const reset = await keystore.beginReset()
    await reset.add(multihashes(80, 'abort-new'))
    expect(await bucketsOfGeneration('abort', reset.generation)).toBeGreaterThan(0)
    await reset.abort()
    expect(await stored(keystore)).toEqual(old.map(hex).sort())
    expect(await bucketsOfGeneration('abort', reset.generation)).toBe(0)
  })

  it('a reset dropped without commit (crash) leaves the old set; reopening deletes the orphan once its lock expired', async () => {
    const namespace = 'crash'
    const keystore = await Keystore.open(t.redis, { namespace, bucketBits: 6, resetLockTtlMs: 300 })
    const old = multihashes(100, 'crash-old')
    await keystore.add(old)
    const reset = await keystore.beginReset()
    await reset.add(multihashes(150, 'crash-new'))
    const orphan = reset.generation
    expect(await bucketsOfGeneration(namespace, orphan)).toBeGreaterThan(0)

    // while the crashed reset's lock is alive, opening leaves its generation alone
    await Keystore.open(t.redis, { namespace })
    expect(await bucketsOfGeneration(namespace, orphan)).toBeGreaterThan(0)
    await expect(keystore.beginReset()).rejects.toThrow('a reset is already in progress')

    await new Promise((resolve) => setTimeout(resolve, 400))
    const reopened = await Keystore.open(t.redis, { namespace })
    expect(await stored(reopened)).toEqual(old.map(hex).sort())
    expect(await reopened.total()).toBe(100)
    expect(await bucketsOfGeneration(namespace, orphan)).toBe(0)
    expect(await t.redis.exists(`{${namespace}}:store:ks:total:${orphan}`)).toBe(0)

    // the crashed reset cannot come back and commit over a newer state
    await expect(reset.commit()).rejects.toThrow('lost its lock')
    expect(await stored(reopened)).toEqual(old.map(hex).sort())
    const next = await reopened.beginReset()
    expect(next.generation).toBeGreaterThan(orphan)
    await next.abort()
  })

  it('names bucket keys by generation', () => {
    expect(bucketKey('sweep', 3, 0xab, 16)).toBe('sweep:ks:3:00ab')
    expect(bucketKey('sweep', 0, 5, 6)).toBe('sweep:ks:0:05')
  })
})
