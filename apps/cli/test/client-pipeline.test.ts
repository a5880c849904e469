import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { setTimeout as sleep } from 'node:timers/promises'
import { orderedPipeline } from '../src/client/ordered-pipeline.ts'

async function* items(n: number, pulled: number[] = []): AsyncGenerator<number> {
  for (let i = 0; i < n; i++) {
    pulled.push(i)
    yield i
  }
}

describe('orderedPipeline', () => {
  it('hands results back in input order however long each item takes, with at most `concurrency` running', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 30 }), fc.integer({ min: 1, max: 6 }), async (delays, concurrency) => {
      let running = 0
      let peak = 0
      const seen: Array<[number, number]> = []
      await orderedPipeline(items(delays.length), async (i) => {
        running++
        peak = Math.max(peak, running)
        await sleep(delays[i] as number)
        running--
        return i * 10
      }, { concurrency, onResult: (item, result) => seen.push([item, result]) })
      expect(seen).toEqual(delays.map((_, i) => [i, i * 10]))
      expect(peak).toBeLessThanOrEqual(concurrency)
    }), { numRuns: 25 })
  })

  it('runs items in parallel: four 50 ms items with concurrency 4 overlap', async () => {
    let running = 0
    let peak = 0
    await orderedPipeline(items(4), async () => {
      running++
      peak = Math.max(peak, running)
      await sleep(50)
      running--
    }, { concurrency: 4, onResult: () => {} })
    expect(peak).toBe(4)
  })

  it('stops pulling input after a failure, lets the running items settle, and throws the failure', async () => {
    const pulled: number[] = []
    const delivered: number[] = []
    const aborted: number[] = []
    const failure = orderedPipeline(items(1000, pulled), async (i, signal) => {
      if (i === 5) throw new Error('chunk 5 failed')
      await sleep(i < 5 ? 1 : 30)
      if (signal.aborted) aborted.push(i)
      return i
    }, { concurrency: 3, onResult: (i) => delivered.push(i) })
    await expect(failure).rejects.toThrow('chunk 5 failed')
    expect(delivered).toEqual([0, 1, 2, 3, 4])
    // only the items already in flight next to item 5 were pulled
    expect(pulled.length).toBeLessThanOrEqual(8)
    expect(aborted.length).toBeGreaterThan(0)
  })

  it('surfaces an error of the source itself, after the items before it were delivered', async () => {
    async function* broken(): AsyncGenerator<number> {
      yield 0
      yield 1
      throw new Error('line 3 is longer than the chunk size')
    }
    const delivered: number[] = []
    await expect(orderedPipeline(broken(), async (i) => i, { concurrency: 4, onResult: (i) => delivered.push(i) }))
      .rejects.toThrow('line 3 is longer')
    // the source is read ahead while items run, so the error can arrive before the earlier results are handed back
    expect(delivered.every((d, i) => d === i)).toBe(true)
  })

  it('stops when the caller aborts', async () => {
    const controller = new AbortController()
    const delivered: number[] = []
    const run = orderedPipeline(items(100), async (i) => {
      await sleep(5)
      if (i === 3) controller.abort(new Error('interrupted (SIGINT)'))
      return i
    }, { concurrency: 2, signal: controller.signal, onResult: (i) => delivered.push(i) })
    await expect(run).rejects.toThrow('interrupted (SIGINT)')
    expect(delivered.length).toBeLessThan(10)
  })
})
