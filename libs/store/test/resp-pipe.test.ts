import { prefixOf } from '@sweep/keyspace'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connectRedis, Keystore, ScheduleStore, waitForRedis } from '../src/index.ts'
import { encodeCommand, RespPipe } from '../src/resp-pipe.ts'
import { kadKey, multihashes, startTestRedis, type TestRedis } from './redis.ts'

let t: TestRedis
beforeAll(async () => { t = await startTestRedis() })
afterAll(async () => { await t.close() })

function commands(count: number, make: (i: number) => string[]): Buffer {
  return Buffer.concat(Array.from({ length: count }, (_, i) => encodeCommand(make(i))))
}

describe('RespPipe', () => {
  it('returns every integer reply in order, however the replies are split into reads', async () => {
    const pipe = RespPipe.of(t.redis)
    const replies = await pipe.send(commands(30_000, () => ['INCRBY', 'pipe:n', '1']), 30_000)
    expect(replies).toHaveLength(30_000)
    expect(replies.every((n, i) => n === i + 1)).toBe(true)
    const [a, b] = await Promise.all([pipe.send(commands(3, () => ['INCRBY', 'pipe:n', '-1']), 3), pipe.send(encodeCommand(['SET', 'pipe:s', 'x']), 1)])
    expect(a).toEqual([29_999, 29_998, 29_997])
    expect(b).toEqual([0])
  })

  it('rejects a request that got an error reply, naming it, and keeps serving the next', async () => {
    const pipe = RespPipe.of(t.redis)
    await t.redis.set('pipe:string', 'x')
    await expect(pipe.send(Buffer.concat([encodeCommand(['HSET', 'pipe:h', 'f', '']), encodeCommand(['HSET', 'pipe:string', 'f', ''])]), 2))
      .rejects.toThrow(/^Redis refused a bulk write: WRONGTYPE/)
    expect(await t.redis.hget('pipe:h', 'f')).toBe('')
    expect(await pipe.send(encodeCommand(['HSET', 'pipe:h', 'g', '']), 1)).toEqual([1])
  })

  it('reconnects after a Redis restart, and authenticates like the client', async () => {
    const pipe = RespPipe.of(t.redis)
    expect(await pipe.send(encodeCommand(['INCRBY', 'pipe:r', '5']), 1)).toEqual([5])
    await t.restart()
    await expect(pipe.send(encodeCommand(['INCRBY', 'pipe:r', '1']), 1)).resolves.toEqual([6])

    await t.redis.config('SET', 'requirepass', 'secret')
    const authed = connectRedis(t.server.url.replace('redis://', 'redis://:secret@'), { name: 'authed' })
    try {
      await waitForRedis(authed, t.server.url)
      expect(await RespPipe.of(authed).send(encodeCommand(['INCRBY', 'pipe:r', '1']), 1)).toEqual([7])
    } finally {
      authed.disconnect()
      await t.redis.config('SET', 'requirepass', '')
    }
  })

  it('closes with its client', async () => {
    const client = connectRedis(t.server.url, { name: 'closing' })
    await waitForRedis(client, t.server.url)
    const pipe = RespPipe.of(client)
    expect(await pipe.send(encodeCommand(['INCRBY', 'pipe:c', '1']), 1)).toEqual([1])
    const ended = new Promise((resolve) => client.once('end', resolve))
    await client.quit()
    await ended
    await expect(pipe.send(encodeCommand(['INCRBY', 'pipe:c', '1']), 1)).rejects.toThrow('the Redis client this bulk connection belongs to was closed')
  })
})

describe('Keystore.addCount without its bare connection', () => {
  it('falls back to the script with the same outcome and marks every bucket it touched', async () => {
    const client = connectRedis(t.server.url, { name: 'fallback' })
    await waitForRedis(client, t.server.url)
    try {
      const keystore = await Keystore.open(client, { namespace: 'fallback', bucketBits: 8 })
      const keys = multihashes(300, 'fallback')
      await keystore.addCount(keys.slice(0, 100))
      RespPipe.of(client).close()
      const outcome = await keystore.addCount(keys, { markDirty: true })
      expect(outcome.added).toBe(200)
      expect(keystore.lastNativeError).toBe('the Redis client this bulk connection belongs to was closed')
      expect(await keystore.total()).toBe(300)
      // the native attempt may have stored keys of any bucket of the batch before failing
      const touched = [...new Set(keys.map((k) => prefixOf(kadKey(k), 8)))].sort()
      expect([...(await new ScheduleStore(client, 'fallback').takeDirty()).keys()]).toEqual(touched)
    } finally {
      client.disconnect()
    }
  })
})
