import { bitAt, compareKeys, keyHead32, type KadKey } from '@sweep/keyspace'

const KEY_BYTES = 32

/**
 * Kad keys kept in keyspace order in one flat buffer. Sorted order turns every
 * subtree of the keyspace (every prefix) into a contiguous index range, which is
 * what makes k-bucket sampling and global closest-k queries cheap.
 */
export class SortedKeys {
  readonly size: number
  private readonly bytes: Uint8Array
  /** First 32 bits of each key: XOR on these orders almost every distance comparison. */
  private readonly heads: Uint32Array

  /** Sorts a copy of the given keys. */
  constructor(keys: readonly KadKey[]) {
    const sorted = [...keys].sort(compareKeys)
    this.size = sorted.length
    this.bytes = new Uint8Array(this.size * KEY_BYTES)
    this.heads = new Uint32Array(this.size)
    for (let i = 0; i < this.size; i++) {
      if (sorted[i].length !== KEY_BYTES) throw new Error(`kad keys must be ${KEY_BYTES} bytes, got ${sorted[i].length}`)
      this.bytes.set(sorted[i], i * KEY_BYTES)
      this.heads[i] = keyHead32(sorted[i])
    }
  }

  /** A view of key i (no copy). */
  key(i: number): KadKey {
    return this.bytes.subarray(i * KEY_BYTES, (i + 1) * KEY_BYTES)
  }

  bit(i: number, index: number): 0 | 1 {
    return ((this.bytes[i * KEY_BYTES + (index >>> 3)] >>> (7 - (index & 7))) & 1) as 0 | 1
  }

  /**
   * Within [lo, hi), whose keys all share their first `index` bits, the first
   * position whose bit `index` is 1: [lo, split) is the 0-subtree, [split, hi) the 1-subtree.
   */
  splitAt(lo: number, hi: number, index: number): number {
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.bit(mid, index) === 0) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  /**
   * Negative when key i is XOR-closer to the target than key j.
   * targetHead is keyHead32(target), passed in so callers compute it once.
   */
  compareDistance(target: KadKey, targetHead: number, i: number, j: number): number {
    const di = (this.heads[i] ^ targetHead) >>> 0
    const dj = (this.heads[j] ^ targetHead) >>> 0
    if (di !== dj) return di - dj
    const bi = i * KEY_BYTES
    const bj = j * KEY_BYTES
    for (let b = 4; b < KEY_BYTES; b++) {
      const x = this.bytes[bi + b]
      const y = this.bytes[bj + b]
      if (x !== y) return (x ^ target[b]) - (y ^ target[b])
    }
    return 0
  }

  /**
   * Walks the keyspace trie down towards a key without building the trie: at
   * each depth, [lo, hi) holds the keys sharing its first `depth` bits and split
   * divides them by bit `depth`. Stops once no key other than `self` is left.
   */
  *subtreesAround(key: KadKey, self = -1): Generator<{ depth: number; lo: number; hi: number; split: number }> {
    let lo = 0
    let hi = this.size
    for (let depth = 0; depth < 256; depth++) {
      const others = hi - lo - (self >= lo && self < hi ? 1 : 0)
      if (others <= 0) return
      const split = this.splitAt(lo, hi, depth)
      yield { depth, lo, hi, split }
      if (bitAt(key, depth) === 0) hi = split
      else lo = split
    }
  }
}
