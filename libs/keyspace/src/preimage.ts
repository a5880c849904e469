import { createHash } from 'node:crypto'
import { keyHead32 } from './key.ts'
import { prefixToInt, type Prefix } from './prefix.ts'

/** Brute force stays cheap (≈1M hashes) up to this many bits. */
export const MAX_PREIMAGE_BITS = 20

/**
 * Finds preimages whose SHA-256 starts with a wanted prefix, so a lookup (which hashes
 * its key) can be aimed at a chosen region. Results are cached: a sweep aims at the
 * same prefixes every cycle.
 */
export class PreimageFinder {
  readonly maxBits: number
  private readonly label: Uint8Array
  private readonly cache = new Map<Prefix, Uint8Array>()

  constructor(namespace = 'sweep-aim', maxBits = MAX_PREIMAGE_BITS) {
    this.label = new TextEncoder().encode(namespace)
    this.maxBits = maxBits
  }

  /** A preimage whose kad key starts with the prefix, cut to maxBits. */
  find(prefix: Prefix): Uint8Array {
    const wanted = prefix.slice(0, this.maxBits)
    const cached = this.cache.get(wanted)
    if (cached) return cached
    const value = prefixToInt(wanted)
    const shift = 32 - wanted.length
    // namespace | prefix value | prefix length | counter: distinct across prefixes and callers
    const candidate = new Uint8Array(this.label.length + 12)
    candidate.set(this.label)
    const view = new DataView(candidate.buffer, this.label.length)
    view.setUint32(0, value)
    view.setUint32(4, wanted.length)
    for (let counter = 0; ; counter++) {
      view.setUint32(8, counter)
      const head = keyHead32(createHash('sha256').update(candidate).digest())
      if (wanted.length === 0 || head >>> shift === value) {
        this.cache.set(wanted, candidate)
        return candidate
      }
    }
  }
}
