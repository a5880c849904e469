import { afterEach, describe, expect, it, vi } from 'vitest'
import { IdleMemoryRelease } from '../src/memory-release.ts'

describe('IdleMemoryRelease', () => {
  afterEach(() => { vi.useRealTimers() })

  it('collects once, after the quiet period that follows enough request data', () => {
    vi.useFakeTimers()
    const released: number[] = []
    let collections = 0
    const memory = new IdleMemoryRelease({ idleMs: 1000, minBytes: 100, collect: () => { collections++ }, onRelease: ({ bytes }) => released.push(bytes) })
    memory.noteRequest(60)
    vi.advanceTimersByTime(5000)
    expect(collections).toBe(0) // 60 bytes are not worth a pause
    memory.noteRequest(60)
    vi.advanceTimersByTime(900)
    memory.noteRequest(30) // a request inside the quiet period restarts it
    vi.advanceTimersByTime(900)
    expect(collections).toBe(0)
    vi.advanceTimersByTime(200)
    expect(collections).toBe(1)
    expect(released).toEqual([150])
    vi.advanceTimersByTime(10_000)
    expect(collections).toBe(1) // nothing new since: no second pause
  })

  it('gives V8 heap back with the default collection', async () => {
    // a million objects that outlive young-generation collections, then become garbage
    const made = (() => Array.from({ length: 1_000_000 }, (_, i) => ({ i, label: `entry ${i}` })).length)()
    expect(made).toBe(1_000_000)
    const before = process.memoryUsage().heapUsed
    const outcome = await new Promise<{ pauseMs: number }>((resolve) => {
      new IdleMemoryRelease({ idleMs: 1, minBytes: 1, onRelease: resolve }).noteRequest(1)
    })
    const after = process.memoryUsage().heapUsed
    expect(after).toBeLessThan(before - 30 * 2 ** 20)
    expect(outcome.pauseMs).toBeGreaterThan(0)
  })
})
