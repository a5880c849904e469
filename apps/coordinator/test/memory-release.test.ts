import { afterEach, describe, expect, it, vi } from 'vitest'
import { IdleMemoryRelease } from '../src/memory-release.ts'

describe('IdleMemoryRelease', () => {
  afterEach(() => { vi.useRealTimers() })

  it('collects once, after the quiet period that follows enough request data', () => {
    vi.useFakeTimers()
    const released: number[] = []
    let collections = 0
    const MiB = 2 ** 20
    const memory = new IdleMemoryRelease({ idleMs: 1000, minBytes: 10 * MiB, collect: () => { collections++ }, onRelease: ({ bytes }) => released.push(bytes) })
    memory.noteRequest(6 * MiB)
    vi.advanceTimersByTime(5000)
    expect(collections).toBe(0) // 6 MiB are not worth a pause
    memory.noteRequest(6 * MiB)
    vi.advanceTimersByTime(900)
    memory.noteRequest(3 * MiB) // an import's next body inside the quiet period restarts it
    vi.advanceTimersByTime(900)
    expect(collections).toBe(0)
    memory.noteRequest(300) // a stats poll does not
    vi.advanceTimersByTime(200)
    expect(collections).toBe(1)
    expect(released).toEqual([15 * MiB])
    vi.advanceTimersByTime(10_000)
    expect(collections).toBe(1) // nothing new since: no second pause
  })

  it('counts work done outside requests, such as a re-bucketing, toward a release', () => {
    vi.useFakeTimers()
    let collections = 0
    const memory = new IdleMemoryRelease({ idleMs: 1000, minBytes: 2 ** 20, collect: () => { collections++ } })
    memory.noteRequest(40_000) // a small request: not import traffic
    vi.advanceTimersByTime(2000)
    expect(collections).toBe(0)
    memory.noteWork(2 ** 20)
    vi.advanceTimersByTime(1000)
    expect(collections).toBe(1)
  })

  it('reports a collection that fails instead of throwing from its timer', () => {
    vi.useFakeTimers()
    const errors: unknown[] = []
    const memory = new IdleMemoryRelease({ idleMs: 10, minBytes: 1, collect: () => { throw new Error('no gc here') }, onError: (error) => errors.push(error) })
    memory.noteRequest(2 ** 20)
    expect(() => vi.advanceTimersByTime(20)).not.toThrow()
    expect(errors.map((e) => (e as Error).message)).toEqual(['no gc here'])
  })

  it('gives V8 heap back with the default collection', async () => {
    // a million objects that outlive young-generation collections, then become garbage
    const made = (() => Array.from({ length: 1_000_000 }, (_, i) => ({ i, label: `entry ${i}` })).length)()
    expect(made).toBe(1_000_000)
    const before = process.memoryUsage().heapUsed
    const outcome = await new Promise<{ pauseMs: number }>((resolve) => {
      new IdleMemoryRelease({ idleMs: 1, minBytes: 1, onRelease: resolve }).noteRequest(2 ** 20)
    })
    const after = process.memoryUsage().heapUsed
    expect(after).toBeLessThan(before - 30 * 2 ** 20)
    expect(outcome.pauseMs).toBeGreaterThan(0)
  })
})
