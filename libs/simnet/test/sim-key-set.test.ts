import { childrenOf, kadKeyOf, keyHasPrefix, type Prefix } from '@sweep/keyspace'
import type { ProvideKey } from '@sweep/sweep'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { Prng } from '../src/prng.ts'
import { SimKeySet } from '../src/sim-key-set.ts'

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex')

async function collect(set: SimKeySet, prefix: Prefix, batchSize: number): Promise<ProvideKey[][]> {
  const batches: ProvideKey[][] = []
  for await (const batch of set.keys(prefix, batchSize)) batches.push([...batch])
  return batches
}

describe('SimKeySet.generate', () => {
  const set = SimKeySet.generate(5000, 42)
  const all = Array.from({ length: set.size }, (_, i) => set.at(i))

  it('makes sha2-256 multihashes whose kad key is their SHA-256', () => {
    expect(set.size).toBe(5000)
    for (const { multihash, key } of all.slice(0, 300)) {
      expect(multihash.length).toBe(34)
      expect([multihash[0], multihash[1]]).toEqual([0x12, 0x20])
      expect(hex(key)).toBe(hex(kadKeyOf(multihash)))
    }
    expect(new Set(all.map(({ multihash }) => hex(multihash))).size).toBe(5000)
  })

  it('is deterministic per seed', () => {
    const again = SimKeySet.generate(5000, 42)
    const other = SimKeySet.generate(5000, 43)
    expect(Array.from({ length: 100 }, (_, i) => hex(again.at(i).multihash))).toEqual(all.slice(0, 100).map(({ multihash }) => hex(multihash)))
    expect(hex(other.at(0).multihash)).not.toBe(hex(all[0].multihash))
  })

  it('orders keys by their first 16 bits', () => {
    const head16 = ({ key }: ProvideKey) => (key[0] << 8) | key[1]
    for (let i = 1; i < all.length; i++) expect(head16(all[i - 1])).toBeLessThanOrEqual(head16(all[i]))
  })

  it('agrees with a brute-force filter for count and keys, at prefix lengths on both sides of 16 bits', async () => {
    const prng = new Prng(1)
    const prefixes: Prefix[] = ['', '0', '1']
    for (let length = 1; length <= 24; length++) {
      // Half the prefixes taken from real keys, so long ones are not all empty.
      const source = prng.int(2) === 0 ? all[prng.int(all.length)].key : prng.bytes(32)
      prefixes.push(Array.from({ length }, (_, i) => (source[i >>> 3] >>> (7 - (i & 7))) & 1).join(''))
    }
    for (const prefix of prefixes) {
      const expected = all.filter(({ key }) => keyHasPrefix(key, prefix)).map(({ key }) => hex(key))
      expect(set.count(prefix)).toBe(expected.length)
      const batches = await collect(set, prefix, 37)
      expect(batches.flat().map(({ key }) => hex(key))).toEqual(expected)
      for (const batch of batches) expect(batch.length).toBeLessThanOrEqual(37)
      expect(batches.slice(0, -1).every((batch) => batch.length === 37)).toBe(true)
    }
  })

  it('splits every prefix exactly into its two children', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.constantFrom('0', '1'), { maxLength: 20 }), fc.integer({ min: 1, max: 500 }), async (bits, batchSize) => {
      const prefix = bits.join('')
      const [left, right] = childrenOf(prefix)
      expect(set.count(left) + set.count(right)).toBe(set.count(prefix))
      const parent = (await collect(set, prefix, batchSize)).flat().map(({ key }) => hex(key))
      const children = [...(await collect(set, left, batchSize)).flat(), ...(await collect(set, right, batchSize)).flat()].map(({ key }) => hex(key))
      expect(children.sort()).toEqual([...parent].sort())
      expect(new Set(children).size).toBe(children.length)
    }), { numRuns: 60, seed: 7 })
  })

  it('rejects bad arguments', async () => {
    expect(() => set.count('012')).toThrow()
    await expect(collect(set, '0', 0)).rejects.toThrow(/batchSize/)
    expect(() => set.at(5000)).toThrow(RangeError)
  })
})

describe('SimKeySet.fromKeys', () => {
  it('holds exactly the given keys, in keyspace order, with multihashes of any length', async () => {
    const prng = new Prng(3)
    const keys: ProvideKey[] = Array.from({ length: 200 }, (_, i) => {
      const multihash = prng.bytes(10 + (i % 30))
      return { multihash, key: kadKeyOf(multihash) }
    })
    const set = SimKeySet.fromKeys(keys)
    expect(set.size).toBe(200)
    const sorted = [...keys].sort((a, b) => Buffer.compare(a.key, b.key))
    for (let i = 0; i < 200; i++) {
      expect(hex(set.at(i).key)).toBe(hex(sorted[i].key))
      expect(hex(set.at(i).multihash)).toBe(hex(sorted[i].multihash))
    }
    expect((await collect(set, '', 1000)).flat()).toHaveLength(200)
    expect(set.count('1')).toBe(keys.filter(({ key }) => key[0] >= 128).length)
  })

  it('handles an empty set', async () => {
    const set = SimKeySet.fromKeys([])
    expect(set.size).toBe(0)
    expect(set.count('')).toBe(0)
    expect(await collect(set, '', 10)).toEqual([])
  })
})
