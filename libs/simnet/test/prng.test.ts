import { describe, expect, it } from 'vitest'
import { deriveSeed, Prng } from '../src/prng.ts'

describe('Prng', () => {
  it('repeats its sequence for the same seed and diverges for another', () => {
    const draw = (seed: number) => {
      const prng = new Prng(seed)
      return Array.from({ length: 50 }, () => prng.uint32())
    }
    expect(draw(42)).toEqual(draw(42))
    expect(draw(42)).not.toEqual(draw(43))
    expect(draw(0)).not.toEqual(draw(2 ** 32))
  })

  it('keeps int() within bounds and roughly uniform', () => {
    const prng = new Prng(1)
    const counts = new Array<number>(10).fill(0)
    for (let i = 0; i < 100_000; i++) {
      const x = prng.int(10)
      expect(Number.isInteger(x) && x >= 0 && x < 10).toBe(true)
      counts[x]++
    }
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(600)
  })

  it('fills byte arrays of any length, including the tail', () => {
    const a = new Prng(5).bytes(37)
    const b = new Prng(5).bytes(37)
    expect(a).toEqual(b)
    expect(a.length).toBe(37)
    expect(new Set(a).size).toBeGreaterThan(20)
  })

  it('derives distinct streams per seed and stream id', () => {
    const seeds = new Set<number>()
    for (let seed = 0; seed < 20; seed++) for (let stream = 0; stream < 20; stream++) seeds.add(deriveSeed(seed, stream))
    expect(seeds.size).toBe(400)
    expect(deriveSeed(3, 4)).toBe(deriveSeed(3, 4))
  })
})
