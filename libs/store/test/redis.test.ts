import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connectRedis, freePort, waitForRedis } from '../src/index.ts'
import { startTestRedis, type TestRedis } from './redis.ts'

let t: TestRedis
beforeAll(async () => { t = await startTestRedis() })
afterAll(async () => { await t.close() })

describe('connectRedis and waitForRedis', () => {
  it('names the connection and answers once Redis is up', async () => {
    const redis = connectRedis(t.server.url, { name: 'sweep-coordinator' })
    await waitForRedis(redis, t.server.url)
    expect(await redis.client('GETNAME')).toBe('sweep-coordinator')
    expect(redis.options.maxRetriesPerRequest).toBeNull()
    redis.disconnect()
  })

  it('gives up after the timeout, naming the URL and the reason', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`
    const redis = connectRedis(url)
    redis.on('error', () => {})
    const started = Date.now()
    await expect(waitForRedis(redis, url, 500)).rejects.toThrow(new RegExp(`^cannot reach Redis at ${url}: .*ECONNREFUSED`))
    expect(Date.now() - started).toBeLessThan(5000)
    redis.disconnect()
  })
})
