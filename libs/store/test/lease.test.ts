import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connectRedis, LeaderLease, waitForRedis, type Fence } from '../src/index.ts'
import { startTestRedis, type TestRedis } from './redis.ts'

let t: TestRedis
beforeAll(async () => { t = await startTestRedis() })
afterAll(async () => { await t.close() })

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('LeaderLease', () => {
  it('lets one holder in at a time, with a new token per election', async () => {
    const a = new LeaderLease(t.redis, { namespace: 'basic', id: 'a', ttlMs: 300 })
    const b = new LeaderLease(t.redis, { namespace: 'basic', id: 'b', ttlMs: 300 })
    const fenceA = await a.acquire()
    expect(fenceA).toMatchObject({ leaderId: 'a' })
    expect(await b.acquire()).toBeUndefined()
    expect(await b.renew()).toBe(false)
    expect(await a.renew()).toBe(true)
    await b.release() // not b's: no effect
    expect(await a.holder()).toBe('a')
    await a.release()
    expect(await a.holder()).toBeUndefined()
    const fenceB = await b.acquire()
    expect(fenceB!.token).toBe(fenceA!.token + 1)
  })

  it('hold(): never two leaders, and a standby takes over within about ttl when the leader goes silent', async () => {
    // long enough that a loaded 2-core CI machine does not miss renewals by itself
    const ttlMs = 1500
    const timeline: Array<{ id: string; event: 'elected' | 'lost'; at: number }> = []
    const leading = new Set<string>()
    let overlap = false
    const handlers = (id: string) => ({
      onElected: (_fence: Fence) => {
        if (leading.size > 0) overlap = true
        leading.add(id)
        timeline.push({ id, event: 'elected', at: Date.now() })
      },
      onLost: () => {
        leading.delete(id)
        timeline.push({ id, event: 'lost', at: Date.now() })
      }
    })
    // each candidate on its own connection, as separate processes would be
    const clientA = connectRedis(t.server.url, { name: 'a' })
    const clientB = connectRedis(t.server.url, { name: 'b' })
    await waitForRedis(clientA, t.server.url)
    await waitForRedis(clientB, t.server.url)
    const a = new LeaderLease(clientA, { namespace: 'hold', id: 'a', ttlMs })
    const b = new LeaderLease(clientB, { namespace: 'hold', id: 'b', ttlMs })
    const stopA = new AbortController()
    const stopB = new AbortController()
    const holdA = a.hold(handlers('a'), stopA.signal)
    await sleep(50)
    const holdB = b.hold(handlers('b'), stopB.signal)
    await sleep(ttlMs * 3)
    expect(timeline.map((e) => `${e.id}:${e.event}`)).toEqual(['a:elected'])

    // a's Redis connection freezes both ways: its renewals can't get through, so it must step down before the lease expires
    clientA.stream.cork()
    clientA.stream.pause()
    const silentAt = Date.now()
    await sleep(ttlMs * 2.5)
    const lostA = timeline.find((e) => e.id === 'a' && e.event === 'lost')
    const electedB = timeline.find((e) => e.id === 'b' && e.event === 'elected')
    expect(lostA).toBeDefined()
    expect(electedB).toBeDefined()
    expect(lostA!.at).toBeLessThan(electedB!.at)
    expect(electedB!.at - silentAt).toBeLessThan(ttlMs * 2)
    expect(overlap).toBe(false)

    clientA.stream.uncork()
    clientA.stream.resume()
    await sleep(ttlMs)
    expect([...leading]).toEqual(['b'])
    stopB.abort()
    await holdB
    expect(leading.has('b')).toBe(false)
    expect(await b.holder()).not.toBe('b')
    // with b gone, a is elected again
    await sleep(ttlMs * 2)
    expect([...leading]).toEqual(['a'])
    stopA.abort()
    await holdA
    expect(await a.holder()).toBeUndefined()
    expect(overlap).toBe(false)
    clientA.disconnect()
    clientB.disconnect()
  })

  it('hold() ends with the error of a throwing handler and releases the lease', async () => {
    const lease = new LeaderLease(t.redis, { namespace: 'throws', id: 'x', ttlMs: 300 })
    const stop = new AbortController()
    await expect(lease.hold({ onElected: () => { throw new Error('boom') }, onLost: () => {} }, stop.signal)).rejects.toThrow('boom')
    expect(await lease.holder()).toBeUndefined()
  })
})
