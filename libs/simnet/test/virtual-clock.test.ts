import { describe, expect, it } from 'vitest'
import { VirtualClock } from '../src/virtual-clock.ts'

describe('VirtualClock', () => {
  it('fires timers in time order, ties in registration order, and advances now exactly', async () => {
    const clock = new VirtualClock()
    const fired: [string, number][] = []
    const at = (label: string, ms: number) => clock.sleep(ms).then(() => { fired.push([label, clock.now()]) })
    await clock.run(() => Promise.all([at('c', 300), at('a', 100), at('b1', 200), at('b2', 200), at('zero', 0)]))
    expect(fired).toEqual([['zero', 0], ['a', 100], ['b1', 200], ['b2', 200], ['c', 300]])
    expect(clock.now()).toBe(300)
  })

  it('takes the max, not the sum, of concurrent sleeps, and the sum of sequential ones', async () => {
    const clock = new VirtualClock(1000)
    await clock.run(() => Promise.all([clock.sleep(50), clock.sleep(70), clock.sleep(20)]))
    expect(clock.now()).toBe(1070)
    await clock.run(async () => {
      await clock.sleep(50)
      await clock.sleep(70)
    })
    expect(clock.now()).toBe(1190)
  })

  it('returns the value and rethrows the error of the driven task', async () => {
    const clock = new VirtualClock()
    await expect(clock.run(async () => { await clock.sleep(10); return 'done' })).resolves.toBe('done')
    await expect(clock.run(async () => { await clock.sleep(10); throw new Error('boom') })).rejects.toThrow('boom')
    expect(clock.now()).toBe(20)
  })

  it('reports a deadlock when the task waits on something no timer will ever resolve', async () => {
    const clock = new VirtualClock()
    await expect(clock.run(async () => {
      await clock.sleep(5)
      await new Promise<void>(() => {})
    })).rejects.toThrow(/deadlock at t=5/)
  })

  it('lets timers wake chains of microtasks before moving time again', async () => {
    const clock = new VirtualClock()
    const order: string[] = []
    await clock.run(() => Promise.all([
      (async () => {
        await clock.sleep(10)
        for (let i = 0; i < 100; i++) await Promise.resolve()
        order.push(`long chain done at ${clock.now()}`)
      })(),
      clock.sleep(11).then(() => { order.push(`11 ms timer at ${clock.now()}`) })
    ]))
    expect(order).toEqual(['long chain done at 10', '11 ms timer at 11'])
  })

  it('refuses to be driven twice at once', async () => {
    const clock = new VirtualClock()
    const outer = clock.run(() => clock.sleep(10))
    await expect(clock.run(() => clock.sleep(1))).rejects.toThrow(/already driving/)
    await outer
  })

  it('handles 100k sleeps', async () => {
    const clock = new VirtualClock()
    let woken = 0
    const sleepers = Array.from({ length: 100_000 }, (_, i) => clock.sleep((i * 7919) % 100_000).then(() => { woken++ }))
    await clock.run(() => Promise.all(sleepers))
    expect(woken).toBe(100_000)
    expect(clock.now()).toBe(99_999)
    expect(clock.pendingTimers).toBe(0)
  })
})
