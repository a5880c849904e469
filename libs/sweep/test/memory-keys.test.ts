import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { kadKeyOf, keyHasPrefix } from '@sweep/keyspace'
import { MemoryKeySource, type ProvideKey } from '@sweep/sweep'

describe('MemoryKeySource', () => {
  it('yields exactly the keys under a prefix, in batches no larger than asked', async () => {
    await fc.assert(fc.asyncProperty(
      fc.array(fc.uint8Array({ minLength: 4, maxLength: 8 }), { maxLength: 200 }),
      fc.stringMatching(/^[01]{0,6}$/),
      fc.integer({ min: 1, max: 17 }),
      async (raw, prefix, batchSize) => {
        const keys: ProvideKey[] = raw.map((bytes) => ({ multihash: bytes, key: kadKeyOf(bytes) }))
        const source = new MemoryKeySource(keys)
        const got: ProvideKey[] = []
        for await (const batch of source.keys(prefix, batchSize)) {
          expect(batch.length).toBeGreaterThan(0)
          expect(batch.length).toBeLessThanOrEqual(batchSize)
          got.push(...batch)
        }
        expect(new Set(got)).toEqual(new Set(keys.filter((k) => keyHasPrefix(k.key, prefix))))
        expect(got.length).toBe(keys.filter((k) => keyHasPrefix(k.key, prefix)).length)
      }
    ))
  })
})
