import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connectRedis, freePort, parseClusterUrl, redactUrl, waitForRedis } from '../src/index.ts'
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

describe('parseClusterUrl', () => {
  it('reads the seed nodes, credentials and wait of a redis+cluster URL, and nothing else', () => {
    expect(parseClusterUrl('redis://127.0.0.1:6379')).toBeUndefined()
    expect(parseClusterUrl('redis+cluster://10.0.0.1:7000,[::1]:7001')).toEqual({ nodes: [{ host: '10.0.0.1', port: 7000 }, { host: '::1', port: 7001 }], tls: false, wait: 1 })
    expect(parseClusterUrl('rediss+cluster://bob:p%40ss@a:1,b:2/?wait=0')).toEqual({ nodes: [{ host: 'a', port: 1 }, { host: 'b', port: 2 }], tls: true, wait: 0, username: 'bob', password: 'p@ss' })
    expect(parseClusterUrl('redis+cluster://:pw@a:1?wait=2')).toMatchObject({ password: 'pw', wait: 2 })
  })

  it('names what is wrong, without the password', () => {
    expect(() => parseClusterUrl('redis+cluster://:hunter2@a:1,b')).toThrow(/^redis URL: cluster node "b" is not HOST:PORT \(in redis\+cluster:\/\/\*\*\*@a:1,b\)$/)
    expect(() => parseClusterUrl('redis+cluster://a:1?wait=-1')).toThrow(/wait expects a whole number of replicas, got "-1"/)
    expect(() => parseClusterUrl('redis+cluster://a:1?wiat=1')).toThrow(/unknown option "wiat"/)
    expect(() => parseClusterUrl('redis+cluster:a:1')).toThrow(/expected redis\+cluster:\/\/HOST:PORT\[,HOST:PORT\.\.\.\]/)
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
