/**
 * The leader lease. Safety comes from fencing, not from a process's belief that it
 * leads: a starved or paused process can believe it long after its lease expired,
 * so the tests check what Redis applied, and wait for outcomes instead of timing them.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connectRedis, LeaderLease, ScheduleStore, waitForRedis, type Fence } from '../src/index.ts'
import { startTestRedis, type TestRedis } from './redis.ts'

const NODE = fileURLToPath(new URL('../../../node_modules/.bin/node', import.meta.url))
const LEASE_WRITER = fileURLToPath(new URL('./fixtures/lease-writer.ts', import.meta.url))

let t: TestRedis
beforeAll(async () => { t = await startTestRedis() })
afterAll(async () => { await t.close() })

async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

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

  it('a leader frozen past its lease (SIGSTOP) and then resumed gets none of its writes applied', async () => {
    const ttlMs = 1000
    const namespace = 'fenced'
    const child = spawn(NODE, [LEASE_WRITER, t.server.url, namespace, String(ttlMs)], { stdio: ['ignore', 'pipe', 'inherit'] })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
    const lines = () => output.split('\n').filter(Boolean)
    try {
      await waitFor(() => lines().some((l) => l.startsWith('applied')), 20_000, 'the child to lead and write')
      child.kill('SIGSTOP')
      const frozenAt = lines().length

      // a standby in this process takes over once the frozen leader's lease runs out, and writes region "0"
      const standby = new LeaderLease(t.redis, { namespace, id: 'standby', ttlMs })
      const schedule = new ScheduleStore(t.redis, namespace)
      let fence: Fence | undefined
      const stop = new AbortController()
      const held = standby.hold({ onElected: (f) => { fence = f }, onLost: () => { fence = undefined } }, stop.signal)
      await waitFor(() => fence !== undefined, 30_000, 'the standby to be elected')
      await schedule.recordRegion({ prefix: '0', failures: 0, keys: 0, peers: 2, recordsSent: 0, lookups: 0, durationMs: 0 }, fence!)

      child.kill('SIGCONT')
      await waitFor(() => lines().slice(frozenAt).includes('lost'), 30_000, 'the resumed child to learn it lost')
      await waitFor(() => lines().slice(frozenAt).some((l) => l.startsWith('refused')), 10_000, 'the stale write to be refused')
      const afterResume = lines().slice(frozenAt)
      // whatever the resumed child still believed, Redis applied nothing it sent after the freeze
      // (a write already sent when it froze may be acknowledged only now); region "0" is the standby's
      const sentBefore = new Set(lines().slice(0, frozenAt).filter((l) => l.startsWith('sending')).map((l) => l.split(' ')[1]))
      expect(afterResume.filter((l) => l.startsWith('applied') && !sentBefore.has(l.split(' ')[1]))).toEqual([])
      expect((await schedule.regions()).get('0')).toMatchObject({ peers: 2, keys: 0 })
      expect(fence).toBeDefined()
      stop.abort()
      await held
    } finally {
      child.kill('SIGKILL')
    }
  })

  it('hold(): a standby takes over when the leader goes silent, the silent one steps down, and leadership comes back', async () => {
    // each candidate on its own connection, as separate processes would be
    const ttlMs = 1000
    const leading = new Set<string>()
    const handlers = (id: string) => ({ onElected: () => { leading.add(id) }, onLost: () => { leading.delete(id) } })
    const clientA = connectRedis(t.server.url, { name: 'a' })
    const clientB = connectRedis(t.server.url, { name: 'b' })
    await waitForRedis(clientA, t.server.url)
    await waitForRedis(clientB, t.server.url)
    const a = new LeaderLease(clientA, { namespace: 'hold', id: 'a', ttlMs })
    const b = new LeaderLease(clientB, { namespace: 'hold', id: 'b', ttlMs })
    const stopA = new AbortController()
    const stopB = new AbortController()
    const holdA = a.hold(handlers('a'), stopA.signal)
    await waitFor(() => leading.has('a'), 20_000, 'a to be elected')
    const holdB = b.hold(handlers('b'), stopB.signal)

    // a's Redis connection freezes both ways: its renewals can't get through
    clientA.stream.cork()
    clientA.stream.pause()
    await waitFor(() => leading.has('b') && !leading.has('a'), 30_000, 'b to take over and a to step down')
    expect(await b.holder()).toBe('b')

    clientA.stream.uncork()
    clientA.stream.resume()
    stopB.abort()
    await holdB
    expect(leading.has('b')).toBe(false)
    // with b gone, a is elected again
    await waitFor(() => leading.has('a'), 30_000, 'a to be elected again')
    stopA.abort()
    await holdA
    expect(await a.holder()).toBeUndefined()
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
