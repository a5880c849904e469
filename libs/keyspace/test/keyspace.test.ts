import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import {
  allocate, closestPeers, commonPrefixLength, compareDistance, kadKeyOf, keyHasPrefix, keyInPrefix,
  PreimageFinder, prefixOf, PrefixTrie, RegionIndex, regionsOf, slotOffset, xorDistance, compareKeys
} from '@sweep/keyspace'

const key = fc.uint8Array({ minLength: 32, maxLength: 32 })
const keyed = key.map((k) => ({ key: k }))
const distinctKeyed = (min: number, max: number) =>
  fc.uniqueArray(keyed, { minLength: min, maxLength: max, selector: (p) => Buffer.from(p.key).toString('hex') })

describe('kad keys', () => {
  it('compareDistance agrees with comparing XOR distances byte-wise', () => {
    fc.assert(fc.property(key, key, key, (t, a, b) => {
      const expected = compareKeys(xorDistance(t, a), xorDistance(t, b))
      expect(Math.sign(compareDistance(t, a, b))).toBe(Math.sign(expected))
    }))
  })

  it('common prefix length is the number of leading bits the prefixes share', () => {
    fc.assert(fc.property(key, key, (a, b) => {
      const cpl = commonPrefixLength(a, b)
      expect(prefixOf(a, cpl)).toBe(prefixOf(b, cpl))
      if (cpl < 256) expect(prefixOf(a, cpl + 1)).not.toBe(prefixOf(b, cpl + 1))
    }))
  })

  it('keyInPrefix lands inside the prefix', () => {
    fc.assert(fc.property(fc.stringMatching(/^[01]{0,40}$/), key, (p, filler) => {
      expect(keyHasPrefix(keyInPrefix(p, filler), p)).toBe(true)
    }))
  })
})

describe('PrefixTrie', () => {
  it('gaps and stored prefixes partition the subtree with no overlap', () => {
    fc.assert(fc.property(fc.uniqueArray(fc.stringMatching(/^[01]{1,8}$/), { maxLength: 12 }), (prefixes) => {
      const trie = new PrefixTrie<number>()
      prefixes.forEach((p, i) => trie.set(p, i))
      const gaps = trie.gaps('')
      // every 10-bit point is covered by a stored prefix or by exactly one gap, never both
      for (let i = 0; i < 1024; i++) {
        const point = i.toString(2).padStart(10, '0')
        const inGaps = gaps.filter((g) => point.startsWith(g)).length
        const covered = prefixes.some((p) => point.startsWith(p))
        expect(inGaps + (covered ? 1 : 0)).toBe(1)
      }
    }))
  })

  it('longestMatch, delete and entriesUnder agree with a plain list', () => {
    const trie = new PrefixTrie<string>()
    for (const p of ['', '0', '01', '0110', '1']) trie.set(p, p)
    expect(trie.longestMatch('01101')?.prefix).toBe('0110')
    expect(trie.delete('0110')).toBe(true)
    expect(trie.delete('0110')).toBe(false)
    expect(trie.longestMatch('01101')?.prefix).toBe('01')
    expect([...trie.entriesUnder('0')].map(([p]) => p)).toEqual(['0', '01'])
    expect(trie.size).toBe(4)
  })
})

describe('regions', () => {
  it('partition the peers, and every region holds ≥ k peers unless the root is too small', () => {
    fc.assert(fc.property(distinctKeyed(0, 300), fc.integer({ min: 1, max: 25 }), (peers, k) => {
      const regions = regionsOf(peers, '', k)
      expect(regions.reduce((n, r) => n + r.peers.length, 0)).toBe(peers.length)
      for (const r of regions) {
        for (const p of r.peers) expect(keyHasPrefix(p.key, r.prefix)).toBe(true)
        if (peers.length >= k) expect(r.peers.length).toBeGreaterThanOrEqual(k)
      }
      const sorted = regions.map((r) => r.prefix)
      expect([...sorted].sort()).toEqual(sorted)
    }))
  })

  it('every key lands in exactly one region, also when regions leave holes', () => {
    fc.assert(fc.property(distinctKeyed(20, 200), fc.array(key, { maxLength: 50 }), fc.boolean(), (peers, keys, holes) => {
      let prefixes = regionsOf(peers, '', 5).map((r) => r.prefix)
      if (holes && prefixes.length > 1) prefixes = prefixes.filter((_, i) => i % 2 === 0)
      const index = new RegionIndex(prefixes)
      for (const k of keys) {
        const region = index.regionOf(k)
        expect(prefixes).toContain(region)
        const containing = prefixes.filter((p) => keyHasPrefix(k, p))
        if (containing.length > 0) expect(containing).toEqual([region])
        else {
          const best = Math.max(...prefixes.map((p) => commonPrefixLength(k, keyInPrefix(p, k)) >= p.length ? p.length : cplWithPrefix(k, p)))
          expect(cplWithPrefix(k, region)).toBe(best)
        }
      }
    }))
  })
})

function cplWithPrefix(k: Uint8Array, p: string): number {
  let i = 0
  while (i < p.length && keyHasPrefix(k, p.slice(0, i + 1))) i++
  return i
}

describe('allocate', () => {
  it('equals brute-force k-closest for every key', () => {
    fc.assert(fc.property(distinctKeyed(1, 120), fc.array(keyed, { maxLength: 60 }), fc.integer({ min: 1, max: 25 }), (peers, keys, k) => {
      const byPeer = allocate(keys, peers, k)
      for (const item of keys) {
        const expected = new Set(closestPeers(item.key, peers, k))
        const got = peers.filter((_, i) => byPeer[i].includes(item))
        expect(new Set(got)).toEqual(expected)
      }
      expect(byPeer.reduce((n, list) => n + list.length, 0)).toBe(keys.length * Math.min(k, peers.length))
    }))
  })

  it('inside a complete region it matches k-closest over all peers of the network', () => {
    fc.assert(fc.property(distinctKeyed(40, 300), fc.array(key, { minLength: 1, maxLength: 40 }), (peers, keys) => {
      const k = 20
      for (const region of regionsOf(peers, '', k)) {
        const inRegion = keys.filter((x) => keyHasPrefix(x, region.prefix)).map((x) => ({ key: x }))
        const byPeer = allocate(inRegion, region.peers, k)
        for (const item of inRegion) {
          const global = closestPeers(item.key, peers, k)
          const got = region.peers.filter((_, i) => byPeer[i].includes(item))
          expect(new Set(got)).toEqual(new Set(global))
        }
      }
    }), { numRuns: 50 })
  })
})

describe('slots', () => {
  const day = 22 * 3600_000
  it('are in [0, interval) and the own prefix goes first', () => {
    fc.assert(fc.property(fc.stringMatching(/^[01]{0,40}$/), key, (p, self) => {
      const slot = slotOffset(p, self, day)
      expect(slot).toBeGreaterThanOrEqual(0)
      expect(slot).toBeLessThan(day)
      expect(slotOffset(prefixOf(self, p.length), self, day)).toBe(0)
    }))
  })

  it('spread the prefixes of one length evenly over the interval', () => {
    const self = kadKeyOf(new TextEncoder().encode('self'))
    for (const len of [4, 10, 16]) {
      const slots = Array.from({ length: 2 ** len }, (_, i) => slotOffset(i.toString(2).padStart(len, '0'), self, day)).sort((a, b) => a - b)
      const step = day / 2 ** len
      slots.forEach((s, i) => expect(Math.abs(s - i * step)).toBeLessThan(1))
    }
  })
})

describe('PreimageFinder', () => {
  it('finds preimages whose hash starts with the prefix, and caches them', () => {
    const finder = new PreimageFinder('test', 12)
    fc.assert(fc.property(fc.stringMatching(/^[01]{0,16}$/), (p) => {
      const pre = finder.find(p)
      expect(keyHasPrefix(kadKeyOf(pre), p.slice(0, 12))).toBe(true)
      expect(finder.find(p)).toBe(pre)
    }), { numRuns: 40 })
  })
})
