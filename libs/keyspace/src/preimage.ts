import { hash } from 'node:crypto'
import { prefixToInt, type Prefix } from './prefix.ts'

/** Brute force stays cheap (≈1M hashes) up to this many bits. */
export const MAX_PREIMAGE_BITS = 20

/** Preimages hashed up front: any prefix of up to ~16 bits is then a binary search away. */
const TABLE_SIZE = 1 << 18

/**
 * Finds preimages whose SHA-256 starts with a wanted prefix, so a lookup (which hashes
 * its key) can be aimed at a chosen region. A sweep aims thousands of lookups per
 * cycle, so the finder hashes a table of counters once, sorted by hash, and answers
 * from it; longer prefixes fall back to brute force. Answers are cached.
 */
export class PreimageFinder {
  readonly maxBits: number
  private readonly label: Uint8Array
  private readonly cache = new Map<Prefix, Uint8Array>()
  private heads?: Uint32Array
  private counters?: Uint32Array

  constructor(namespace = 'sweep-aim', maxBits = MAX_PREIMAGE_BITS) {
    this.label = new TextEncoder().encode(namespace)
    this.maxBits = maxBits
  }

  /** A preimage whose kad key starts with the prefix, cut to maxBits. */
  find(prefix: Prefix): Uint8Array {
    const wanted = prefix.slice(0, this.maxBits)
    let found = this.cache.get(wanted)
    if (!found) {
      found = this.preimage(this.fromTable(wanted) ?? this.bruteForce(wanted))
      this.cache.set(wanted, found)
    }
    return found
  }

  private preimage(counter: number): Uint8Array {
    const out = new Uint8Array(this.label.length + 4)
    out.set(this.label)
    new DataView(out.buffer).setUint32(this.label.length, counter)
    return out
  }

  private head(counter: number): number {
    return hash('sha256', this.preimage(counter), 'buffer').readUInt32BE(0)
  }

  private fromTable(wanted: Prefix): number | undefined {
    if (!this.heads || !this.counters) this.buildTable()
    const heads = this.heads!
    const low = wanted.length === 0 ? 0 : prefixToInt(wanted) * 2 ** (32 - wanted.length)
    const high = low + 2 ** (32 - wanted.length)
    let lo = 0
    let hi = heads.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (heads[mid] < low) lo = mid + 1
      else hi = mid
    }
    return lo < heads.length && heads[lo] < high ? this.counters![lo] : undefined
  }

  private buildTable(): void {
    const pairs = new BigUint64Array(TABLE_SIZE)
    for (let c = 0; c < TABLE_SIZE; c++) pairs[c] = (BigInt(this.head(c)) << 32n) | BigInt(c)
    pairs.sort()
    this.heads = new Uint32Array(TABLE_SIZE)
    this.counters = new Uint32Array(TABLE_SIZE)
    for (let i = 0; i < TABLE_SIZE; i++) {
      this.heads[i] = Number(pairs[i] >> 32n)
      this.counters[i] = Number(pairs[i] & 0xffffffffn)
    }
  }

  private bruteForce(wanted: Prefix): number {
    const value = prefixToInt(wanted)
    const shift = 32 - wanted.length
    for (let counter = TABLE_SIZE; ; counter++) {
      if (this.head(counter) >>> shift === value) return counter
    }
  }
}
