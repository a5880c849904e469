import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { Keystore, storeKeys } from '../src/index.ts'
import { addToGeneration, removeFromGeneration, REWRITE, type KeystoreContext } from '../src/keystore-generations.ts'
import { addCountNative, packMultihashes } from '../src/packed-add.ts'
import { AddJournal } from '../src/unsettled-adds.ts'
import { bucketKeysOf, hex, kadKey, multihashes, startTestRedis, type TestRedis } from './redis.ts'

let t: TestRedis
beforeAll(async () => { t = await startTestRedis() })
afterAll(async () => { await t.close() })
beforeEach(async () => { await t.redis.flushall() })

/** Every stored key of the namespace, hex → once, read through a freshly opened keystore. */
async function storedKeys(namespace: string): Promise<Map<string, boolean>> {
  const keystore = await Keystore.open(t.redis, { namespace })
  const stored = new Map<string, boolean>()
  for await (const batch of keystore.keys('', 5000)) for (const key of batch) stored.set(hex(key.multihash), key.once)
  return stored
}

/** Bucket keys of one generation, and how many of them are not listpack-encoded. */
async function bucketsOf(namespace: string, generation: number): Promise<{ buckets: number; notListpack: number }> {
  const names = await bucketKeysOf(t.redis, namespace, generation)
  let notListpack = 0
  for (const name of names) if (await t.redis.object('ENCODING', name) !== 'listpack') notListpack++
  return { buckets: names.length, notListpack }
}

/** What a keystore's internals need to write to a generation other than the current one, as a stale writer would. */
function contextOf(namespace: string, bucketBits: number): KeystoreContext {
  return { redis: t.redis, namespace, names: storeKeys(namespace), bucketBits, ownPrefix: '' }
}

describe('re-bucketing a keystore online', () => {
  it('moves to more bits while native adds, once adds, upgrades and removes go on: every key, exact counts, compact buckets', async () => {
    const keystore = await Keystore.open(t.redis, { namespace: 'grow', bucketBits: 6 })
    const expected = new Map<string, boolean>()
    const base = multihashes(80_000, 'base')
    await keystore.addCount(base)
    for (const key of base) expected.set(hex(key), false)
    expect((await bucketsOf('grow', 0)).notListpack).toBeGreaterThan(0)

    // a reader streaming the whole set slowly, as a region job does, across the switch and the old set's deletion
    const seenByReader = new Set<string>()
    const reading = (async () => {
      for await (const batch of keystore.keys('', 2000)) {
        for (const key of batch) seenByReader.add(hex(key.multihash))
        await sleep(100)
      }
    })()
    const rebucketing = (await keystore.beginRebucket(8))!
    expect(rebucketing).toBeDefined()
    const running = rebucketing.run({ drainMs: 1500 })
    let done = false
    void running.finally(() => { done = true })
    let round = 0
    let roundsWhileCopying = 0
    let removedTotal = 0
    // writes of every kind, interleaved with the copy, the switch and the drain (bounded: 2000 rounds)
    while (!done && round < 2000) {
      const native = multihashes(300, `native-${round}:`)
      const added = await keystore.addCount(native)
      expect(added.added).toBe(300)
      for (const key of native) expected.set(hex(key), false)
      const once = multihashes(40, `once-${round}:`)
      expect(await keystore.add(once, { once: true })).toHaveLength(40)
      for (const key of once) expected.set(hex(key), true)
      if (round > 0) {
        // the previous round's once keys turn permanent; some base keys go
        const upgraded = multihashes(10, `once-${round - 1}:`)
        expect(await keystore.add(upgraded)).toHaveLength(0)
        for (const key of upgraded) expected.set(hex(key), false)
        const gone = base.slice(round * 20, round * 20 + 20)
        const removed = await keystore.remove(gone)
        expect(removed).toBe(gone.length)
        removedTotal += removed
        for (const key of gone) expected.delete(hex(key))
      }
      if ((await keystore.rebucketState())?.phase === 'copying') roundsWhileCopying++
      round++
    }
    const outcome = await running
    console.log(`re-bucketing 6 → 8 bits under ${round} rounds of writes: copy ${outcome.copyMs.toFixed(0)} ms, all ${outcome.totalMs.toFixed(0)} ms, ` +
      `${outcome.passes} passes over touched buckets, ${outcome.membersCopied} members copied, ${outcome.membersMerged} merged after the switch, ${removedTotal} removed meanwhile, ${roundsWhileCopying} rounds while copying`)
    // writes of every kind ran beside the copy, not only after the switch (4 rounds of the
    // 151 did on a loaded CI box, whose rounds are slow; dozens on an idle one)
    expect(roundsWhileCopying).toBeGreaterThanOrEqual(1)
    await reading
    // every base key the writers left in place was streamed, though the set moved under the reader
    const kept = base.map(hex).filter((k) => expected.has(k))
    expect(kept.filter((k) => !seenByReader.has(k))).toEqual([])

    expect(await keystore.rebucketState()).toBeUndefined()
    const reopened = await Keystore.open(t.redis, { namespace: 'grow' })
    expect(reopened.bucketBits).toBe(8)
    expect(await storedKeys('grow')).toEqual(expected)
    expect(await keystore.total()).toBe(expected.size)
    expect(await keystore.count('')).toBe(expected.size)
    expect(await keystore.count('1')).toBe([...expected.keys()].filter((k) => kadKey(Buffer.from(k, 'hex'))[0] >= 0x80).length)
    expect(await bucketsOf('grow', 0)).toEqual({ buckets: 0, notListpack: 0 })
    const generation = Number(await t.redis.get(storeKeys('grow').keystoreGeneration))
    expect(await bucketsOf('grow', generation)).toEqual({ buckets: 256, notListpack: 0 })
    expect(await t.redis.hkeys(storeKeys('grow').keystoreConfig)).not.toContain('bits:0')
    // a keystore opened before the switch reads and writes the new generation, at its bits
    const late = multihashes(100, 'late')
    expect((await keystore.addCount(late)).added).toBe(100)
    expect(await reopened.count('')).toBe(expected.size + 100)
  })

  it('does not begin when the copy would not fit under Redis\' maxmemory, and says how much it needs', async () => {
    const keystore = await Keystore.open(t.redis, { namespace: 'full', bucketBits: 4 })
    await keystore.addCount(multihashes(20_000, 'full'))
    const used = Number(/^used_memory:(\d+)/m.exec(await t.redis.info('memory'))![1])
    try {
      // room for the keys as they are, not for a second copy of 20k keys (~1 MB)
      await t.redis.config('SET', 'maxmemory', String(used + 500_000))
      await expect(keystore.beginRebucket(6)).rejects.toThrow(/Redis has no room to copy its 20000 keys: that needs about \d+ MiB of its maxmemory \d+ MiB/)
      expect(await keystore.rebucketState()).toBeUndefined()
      await t.redis.config('SET', 'maxmemory', String(used + 20_000_000))
      expect(await keystore.beginRebucket(6)).toBeDefined()
    } finally {
      await t.redis.config('SET', 'maxmemory', '0')
    }
  })

  it('refuses a script write that reaches the old generation after the switch, and merges native adds that land there', async () => {
    const keystore = await Keystore.open(t.redis, { namespace: 'stale', bucketBits: 4 })
    const base = multihashes(5000, 'base')
    await keystore.addCount(base)
    const running = (await keystore.beginRebucket(6))!.run({ drainMs: 2000 })
    await waitFor(async () => (await keystore.rebucketState())?.phase === 'switched')
    const old = contextOf('stale', 4)

    // a writer that read generation 0 as current just before the switch
    const scripted = multihashes(50, 'scripted')
    const outcomes = await addToGeneration(old, 0, scripted, { count: true })
    expect([...outcomes].every((outcome) => outcome === REWRITE)).toBe(true)
    const removal = await removeFromGeneration(old, 0, base.slice(0, 10), false)
    expect(removal.removed).toBe(0)
    expect(removal.rewrite.map(hex).sort()).toEqual(base.slice(0, 10).map(hex).sort())
    // a native add never reads a refusal: its HSETs land in generation 0 and are merged
    const native = multihashes(70, 'native')
    expect((await addCountNative(old, 0, packMultihashes(native), new AddJournal(old))).added).toBe(70)
    const outcome = await running
    expect(outcome.membersMerged).toBe(70)

    const stored = await storedKeys('stale')
    expect(stored.size).toBe(5070)
    for (const key of native) expect(stored.has(hex(key))).toBe(true)
    for (const key of scripted) expect(stored.has(hex(key))).toBe(false)
    expect(await keystore.total()).toBe(5070)
  })

  it('a mover killed mid-copy leaves the old set current and whole; the next takes it up once its lock expires, and adds made meanwhile arrive', async () => {
    const keystore = await Keystore.open(t.redis, { namespace: 'killed', bucketBits: 10, resetLockTtlMs: 1000 })
    const base = multihashes(30_000, 'base')
    await keystore.addCount(base)
    expect(await killMoverAfterBatches('killed', 12, 3)).toBe('SIGKILL')

    const state = (await keystore.rebucketState())!
    expect(state).toMatchObject({ fromBits: 10, toBits: 12, phase: 'copying' })
    expect(state.cursor).toBeGreaterThan(0)
    expect(state.cursor).toBeLessThan(1024)
    await expect(keystore.beginReset()).rejects.toThrow(/being re-bucketed online \(10 → 12 bits, \d+% copied\); a reset can begin when it ends/)
    // the old generation is still the set: whole, and taking adds
    expect(await keystore.count('')).toBe(30_000)
    const meanwhile = multihashes(2000, 'meanwhile')
    expect((await keystore.addCount(meanwhile)).added).toBe(2000)
    // another process's open must not take the half-built generation for an orphan
    await Keystore.open(t.redis, { namespace: 'killed' })
    expect(await keystore.resumeRebucket()).toBeUndefined()
    await sleep(1100)
    const resumed = (await keystore.resumeRebucket())!
    expect(resumed.toBits).toBe(12)
    await resumed.run({ drainMs: 200 })

    const stored = await storedKeys('killed')
    expect(stored.size).toBe(32_000)
    for (const key of [...base, ...meanwhile]) expect(stored.has(hex(key))).toBe(true)
    expect((await Keystore.open(t.redis, { namespace: 'killed' })).bucketBits).toBe(12)
    expect(await keystore.total()).toBe(32_000)
  })
})

/** A node process that begins a re-bucketing to toBits and SIGKILLs itself as it starts copy batch `batches` + 1. */
async function killMoverAfterBatches(namespace: string, toBits: number, batches: number): Promise<NodeJS.Signals | null> {
  const code = `
    import { connectRedis, Keystore } from ${JSON.stringify(fileURLToPath(new URL('../src/index.ts', import.meta.url)))}
    const redis = connectRedis(process.env.REDIS_URL)
    const keystore = await Keystore.open(redis, { namespace: ${JSON.stringify(namespace)}, resetLockTtlMs: 1000 })
    const pipeline = redis.pipeline.bind(redis)
    let pipelines = 0
    // each copy batch is two pipelines, a read and a write
    redis.pipeline = (...args) => {
      if (++pipelines > ${2 * batches}) process.kill(process.pid, 'SIGKILL')
      return pipeline(...args)
    }
    await (await keystore.beginRebucket(${toBits})).run()
    console.error('the re-bucketing ended: the kill did not happen')
    process.exit(3)
  `
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { env: { ...process.env, REDIS_URL: t.server.url }, stdio: ['ignore', 'inherit', 'inherit'] })
  return new Promise((resolve) => child.once('exit', (_code, signal) => resolve(signal)))
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
    await sleep(5)
  }
}
