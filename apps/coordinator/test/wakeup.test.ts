import { describe, expect, it } from 'vitest'
import { Wakeup } from '../src/wakeup.ts'

describe('Wakeup', () => {
  it('ends a sleep early on wake, and sleeps its full time otherwise', async () => {
    const w = new Wakeup()
    const never = new AbortController().signal
    const t0 = performance.now()
    const sleeping = w.sleep(5000, never)
    setTimeout(() => w.wake(), 20)
    await sleeping
    expect(performance.now() - t0).toBeLessThan(1000)
    const t1 = performance.now()
    await w.sleep(50, never)
    expect(performance.now() - t1).toBeGreaterThanOrEqual(45)
  })

  it('remembers wakes that come while awake, coalesced into one', async () => {
    const w = new Wakeup()
    const never = new AbortController().signal
    w.wake()
    w.wake()
    const t0 = performance.now()
    await w.sleep(5000, never)
    // far below the 5 s sleep it ends, with room for a loaded machine
    expect(performance.now() - t0).toBeLessThan(1000)
    const t1 = performance.now()
    await w.sleep(50, never)
    expect(performance.now() - t1).toBeGreaterThanOrEqual(45)
  })

  it('ends on abort', async () => {
    const w = new Wakeup()
    const stop = new AbortController()
    setTimeout(() => stop.abort(), 20)
    const t0 = performance.now()
    await w.sleep(5000, stop.signal)
    expect(performance.now() - t0).toBeLessThan(1000)
  })
})
