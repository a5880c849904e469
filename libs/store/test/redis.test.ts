import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connectRedis, freePort, redactUrl, waitForRedis } from '../src/index.ts'
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

  it('never prints the password of an unreachable Redis', async () => {
    const port = await freePort()
    const url = `redis://default:hunter2@127.0.0.1:${port}/0`
    const redis = connectRedis(url)
    redis.on('error', () => {})
    const failure = await waitForRedis(redis, url, 300).then(() => undefined, (error: Error) => error)
    redis.disconnect()
    expect(failure?.message).toMatch(new RegExp(`^cannot reach Redis at redis://\\*\\*\\*:\\*\\*\\*@127\\.0\\.0\\.1:${port}/0: `))
    expect(failure?.message).not.toContain('hunter2')
  })
})

describe('redactUrl', () => {
  it('hides user and password, keeps the rest, and leaves URLs without them alone', () => {
    expect(redactUrl('rediss://alice:s3cret@redis.example:6380/2?tls=1')).toBe('rediss://***:***@redis.example:6380/2?tls=1')
    expect(redactUrl('redis://:s3cret@10.0.0.1:6379')).toBe('redis://:***@10.0.0.1:6379')
    expect(redactUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379')
    expect(redactUrl('not a url //bob:pw@host')).toBe('not a url //***@host')
  })
})
