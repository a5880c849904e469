import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { Keystore, storeKeys } from '../src/index.ts'
import { RespPipe } from '../src/resp-pipe.ts'
import { multihashes, startTestRedis, type TestRedis } from './redis.ts'

let t: TestRedis
beforeAll(async () => { t = await startTestRedis() })
afterAll(async () => { await t.close() })
beforeEach(async () => { await t.redis.flushall() })

const names = storeKeys()
const WRITER_TTL_MS = 1500

/**
 * A separate node process adds `count` new keys natively and is SIGKILLed the moment its
 * HSETs are answered, before the step that counts and marks them runs: the gap a SIGTERM
 * mid-POST fell into. Resolves with the signal that ended it.
 */
async function addAndDieBeforeSettling(count: number, salt: string): Promise<NodeJS.Signals | null> {
  const code = `
    import { connectRedis, Keystore } from ${JSON.stringify(fileURLToPath(new URL('../src/index.ts', import.meta.url)))}
    import { multihashes } from ${JSON.stringify(fileURLToPath(new URL('./redis.ts', import.meta.url)))}
    const redis = connectRedis(process.env.REDIS_URL)
    const keystore = await Keystore.open(redis, { writerTtlMs: ${WRITER_TTL_MS} })
    redis.sweepKeystoreSettle = () => process.kill(process.pid, 'SIGKILL')
    await keystore.addCount(multihashes(${count}, ${JSON.stringify(salt)}), { markDirty: true })
    console.error('the add settled: the kill did not happen')
    process.exit(3)
  `
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { env: { ...process.env, REDIS_URL: t.server.url }, stdio: ['ignore', 'inherit', 'inherit'] })
  return new Promise((resolve) => child.once('exit', (_code, signal) => resolve(signal)))
}

async function dirtyPrefixes(): Promise<Set<string>> {
  return new Set(await t.redis.hkeys(names.dirty))
}

function prefixesOf(keystore: Keystore, keys: readonly Uint8Array[]): Set<string> {
  return new Set(keys.map((key) => keystore.bucketPrefix(keystore.bucketOf(key))))
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('an add killed between storing keys and counting and marking them', () => {
  it('a retry of the stored keys marks their buckets, a repair recounts the total, a remove never takes it below 0', async () => {
    const keystore = await Keystore.open(t.redis, { writerTtlMs: WRITER_TTL_MS })
    const earlier = multihashes(500, 'earlier')
    await keystore.addCount(earlier, { markDirty: true })
    await t.redis.del(names.dirty) // the leader took those marks

    expect(await addAndDieBeforeSettling(3000, 'killed')).toBe('SIGKILL')
    const killed = multihashes(3000, 'killed')
    // the gap itself: stored, yet neither counted nor marked
    expect(await keystore.count()).toBe(3500)
    expect(await keystore.total()).toBe(500)
    expect(await dirtyPrefixes()).toEqual(new Set())

    // the client retries the same keys (with a few new ones) through the public API
    const fresh = multihashes(20, 'fresh')
    const retry = await keystore.addCount([...killed, ...fresh], { markDirty: true })
    expect(retry.added).toBe(20)
    const dirty = await dirtyPrefixes()
    for (const prefix of prefixesOf(keystore, killed)) expect(dirty.has(prefix)).toBe(true)

    // once the dead add's writer has lapsed, a repair recounts
    await sleep(WRITER_TTL_MS + 100)
    expect(await keystore.repairUnsettledAdds()).toEqual({ repaired: 1, running: 0, total: 3520 })
    expect(await keystore.total()).toBe(await keystore.count())
    expect(await t.redis.hlen(names.keystoreUnsettled)).toBe(0)

    expect(await keystore.remove([...earlier, ...killed, ...fresh, ...multihashes(50, 'never stored')])).toBe(3520)
    expect(await keystore.total()).toBe(0)
    expect(await t.redis.get(names.keystoreTotal(0))).toBe('0')
  })

  it('without any retry, the repair marks the dead add\'s buckets once its writer lapsed', async () => {
    const keystore = await Keystore.open(t.redis, { writerTtlMs: WRITER_TTL_MS })
    expect(await addAndDieBeforeSettling(2000, 'unretried')).toBe('SIGKILL')
    // its writer may still be alive for all anyone knows: nothing is touched yet
    expect(await keystore.repairUnsettledAdds()).toEqual({ repaired: 0, running: 1 })
    expect(await dirtyPrefixes()).toEqual(new Set())
    await sleep(WRITER_TTL_MS + 100)
    expect(await keystore.repairUnsettledAdds()).toEqual({ repaired: 1, running: 0, total: 2000 })
    expect(await dirtyPrefixes()).toEqual(prefixesOf(keystore, multihashes(2000, 'unretried')))
    expect(await keystore.total()).toBe(2000)
    // repaired once: a second call finds nothing to do
    expect(await keystore.repairUnsettledAdds()).toEqual({ repaired: 0, running: 0 })
  })

  it('a once add of keys a dead add stored marks their buckets too', async () => {
    const keystore = await Keystore.open(t.redis, { writerTtlMs: WRITER_TTL_MS })
    expect(await addAndDieBeforeSettling(1000, 'once retry')).toBe('SIGKILL')
    const killed = multihashes(1000, 'once retry')
    expect((await keystore.addCount(killed.slice(0, 100), { once: true, markDirty: true })).added).toBe(0)
    expect(await dirtyPrefixes()).toEqual(prefixesOf(keystore, killed.slice(0, 100)))
  })

  it('with no add unsettled, a retry of stored keys marks nothing', async () => {
    const keystore = await Keystore.open(t.redis, { writerTtlMs: WRITER_TTL_MS })
    const keys = multihashes(1000, 'settled')
    await keystore.addCount(keys, { markDirty: true })
    await t.redis.del(names.dirty)
    expect(await keystore.addCount(keys, { markDirty: true })).toEqual({ added: 0, prefixes: new Set() })
    expect(await dirtyPrefixes()).toEqual(new Set())
    expect(await t.redis.hlen(names.keystoreUnsettled)).toBe(0)
  })
})

describe('a native add whose replies were lost after Redis ran it', () => {
  it('falls back to the script, marks every bucket and recounts at once, the dead attempt\'s writer retired', async () => {
    const keystore = await Keystore.open(t.redis, { writerTtlMs: 60_000 })
    const pipe = RespPipe.of(t.redis)
    const send = pipe.send.bind(pipe)
    // the connection is cut once the HSETs ran, before their replies came back
    pipe.send = async (payload, replies) => {
      pipe.send = send
      await send(payload, replies)
      throw new Error('bulk connection to Redis closed')
    }
    const keys = multihashes(1000, 'lost replies')
    const outcome = await keystore.addCount(keys, { markDirty: true })
    expect(keystore.lastNativeError).toBe('bulk connection to Redis closed')
    expect(outcome.added).toBe(0) // the script found them stored: the attempt had added them
    expect(await keystore.total()).toBe(1000)
    expect(await dirtyPrefixes()).toEqual(prefixesOf(keystore, keys))
    expect(await t.redis.hlen(names.keystoreUnsettled)).toBe(0)
  })
})

describe('the total', () => {
  it('a remove finding the total short of what it deleted sets it to 0 and asks for a recount', async () => {
    const keystore = await Keystore.open(t.redis)
    const keys = multihashes(300, 'drift')
    await keystore.addCount(keys)
    await t.redis.set(names.keystoreTotal(0), 40) // drifted, as a crash before this fix left it
    expect(await keystore.remove(keys.slice(0, 100))).toBe(100)
    expect(await keystore.total()).toBe(0)
    expect(await t.redis.get(names.keystoreTotal(0))).toBe('0')
    expect(await keystore.repairUnsettledAdds()).toEqual({ repaired: 0, running: 0, total: 200 })
    expect(await keystore.total()).toBe(200)
  })

  it('add() and remove() keep the total in the same step as the write', async () => {
    const keystore = await Keystore.open(t.redis)
    const keys = multihashes(3000, 'plain')
    expect((await keystore.add(keys)).length).toBe(3000)
    expect((await keystore.add(keys.slice(0, 10), { once: true })).length).toBe(0)
    expect(await keystore.total()).toBe(3000)
    expect(await keystore.removeOnce(keys)).toBe(0)
    expect(await keystore.remove(keys.slice(0, 1000))).toBe(1000)
    expect(await keystore.total()).toBe(2000)
    expect(await keystore.count()).toBe(2000)
  })

  it('recount() waits while a live writer\'s add is under way, then counts', async () => {
    const keystore = await Keystore.open(t.redis)
    await keystore.addCount(multihashes(700, 'recount'))
    await t.redis.set(names.keystoreTotal(0), 5)
    // an add under way elsewhere: its entry, and its writer alive for a while
    await t.redis.hset(names.keystoreUnsettled, 'w1:1', '')
    await t.redis.set(`${names.keystoreWriterPrefix}w1`, '1', 'PX', 400)
    expect(await keystore.repairUnsettledAdds()).toEqual({ repaired: 0, running: 1 })
    const started = Date.now()
    expect(await keystore.recount()).toBe(700)
    expect(Date.now() - started).toBeGreaterThanOrEqual(300)
    expect(await keystore.total()).toBe(700)
  })
})
