import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bitmapOf, bitmapOffsets } from '../src/index.ts'
import { startTestRedis, type TestRedis } from './redis.ts'

let t: TestRedis
beforeAll(async () => { t = await startTestRedis() })
afterAll(async () => { await t.close() })

describe('Redis bitmaps as sets of offsets', () => {
  it('reads back the offsets it wrote, sorted and once each', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 4095 })), (offsets) => {
      expect(bitmapOffsets(bitmapOf(offsets, 4096))).toEqual([...new Set(offsets)].sort((a, b) => a - b))
    }))
    expect(bitmapOffsets(null)).toEqual([])
  })

  it('agrees with SETBIT and GETBIT in Redis, both ways', async () => {
    const offsets = [0, 1, 7, 8, 100, 1023]
    for (const offset of offsets) await t.redis.setbit('set-by-redis', offset, 1)
    expect(bitmapOffsets(await t.redis.getBuffer('set-by-redis'))).toEqual(offsets)
    await t.redis.set('set-here', bitmapOf(offsets, 1024))
    for (const offset of [...offsets, 2, 9, 999]) expect(await t.redis.getbit('set-here', offset)).toBe(offsets.includes(offset) ? 1 : 0)
  })
})
