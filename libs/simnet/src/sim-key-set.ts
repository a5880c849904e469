import { hash } from 'node:crypto'
import { compareKeys, keyInPrefix, parsePrefix, prefixToInt, type Prefix } from '@sweep/keyspace'
import type { KeySource, ProvideKey } from '@sweep/sweep'
import { Prng } from './prng.ts'

const KEY_BYTES = 32
/** Keys are grouped by this many leading kad-key bits; shorter prefixes are then one index range. */
const BUCKET_BITS = 16
const BUCKETS = 1 << BUCKET_BITS
/** sha2-256 multihash header: code 0x12, digest length 0x20. */
const MULTIHASH_HEADER = [0x12, 0x20]
const MULTIHASH_BYTES = MULTIHASH_HEADER.length + KEY_BYTES
/** Generated multihashes sit 36 bytes apart so sorting can move them as 32-bit words. */
const MULTIHASH_STRIDE = 36

/**
 * A provider's CIDs, packed for tens of millions of keys: multihashes and kad
 * keys in two contiguous buffers (68 bytes a key), grouped by the first 16 bits
 * of the kad key. Key objects are built only for the batch being read, as views
 * into the buffers. Index order (at(i)) is keyspace order of the first 16 bits;
 * within one 16-bit group, generated keys keep generation order.
 */
export class SimKeySet implements KeySource {
  readonly size: number
  private readonly multihashes: Uint8Array
  /** Bytes reserved per multihash. */
  private readonly stride: number
  /** Multihash length: one for all keys, or per key when they vary. */
  private readonly lengths: number | Uint16Array
  private readonly kadKeys: Uint8Array
  /** bucketStart[b] = index of the first key whose first 16 bits are ≥ b; one extra entry = size. */
  private readonly bucketStart: Uint32Array

  /**
   * count synthetic sha2-256 CIDs: multihash = 0x12 0x20 + 32 PRNG bytes,
   * kad key = SHA-256(multihash). Sorting is a counting sort by 16-bit group
   * applied in place, so peak memory stays near the final ~70 bytes a key.
   */
  static generate(count: number, seed: number): SimKeySet {
    if (!Number.isInteger(count) || count < 0) throw new Error(`count must be a non-negative integer, got ${count}`)
    const prng = new Prng(seed)
    const multihashes = new Uint8Array(count * MULTIHASH_STRIDE)
    const kadKeys = new Uint8Array(count * KEY_BYTES)
    const group = new Uint16Array(count)
    const groupSizes = new Uint32Array(BUCKETS)
    for (let i = 0; i < count; i++) {
      const at = i * MULTIHASH_STRIDE
      multihashes[at] = MULTIHASH_HEADER[0]
      multihashes[at + 1] = MULTIHASH_HEADER[1]
      prng.fill(multihashes.subarray(at + 2, at + MULTIHASH_BYTES))
      const digest = hash('sha256', multihashes.subarray(at, at + MULTIHASH_BYTES), 'buffer')
      kadKeys.set(digest, i * KEY_BYTES)
      const g = (digest[0] << 8) | digest[1]
      group[i] = g
      groupSizes[g]++
    }
    const destination = new Uint32Array(count)
    const next = new Uint32Array(BUCKETS)
    for (let g = 1; g < BUCKETS; g++) next[g] = next[g - 1] + groupSizes[g - 1]
    for (let i = 0; i < count; i++) destination[i] = next[group[i]]++
    permuteInPlace(destination, new Uint32Array(multihashes.buffer), MULTIHASH_STRIDE / 4, new Uint32Array(kadKeys.buffer), KEY_BYTES / 4)
    return new SimKeySet(multihashes, MULTIHASH_STRIDE, MULTIHASH_BYTES, kadKeys)
  }

  /** A key set holding exactly these keys (copied), for small tests. */
  static fromKeys(keys: readonly ProvideKey[]): SimKeySet {
    const sorted = [...keys].sort((a, b) => compareKeys(a.key, b.key))
    const stride = sorted.reduce((max, { multihash }) => Math.max(max, multihash.length), 0)
    const uniform = sorted.every(({ multihash }) => multihash.length === stride)
    const lengths = uniform ? stride : new Uint16Array(sorted.length)
    const multihashes = new Uint8Array(sorted.length * stride)
    const kadKeys = new Uint8Array(sorted.length * KEY_BYTES)
    sorted.forEach(({ multihash, key }, i) => {
      if (key.length !== KEY_BYTES) throw new Error(`kad keys must be ${KEY_BYTES} bytes, got ${key.length}`)
      multihashes.set(multihash, i * stride)
      if (typeof lengths !== 'number') lengths[i] = multihash.length
      kadKeys.set(key, i * KEY_BYTES)
    })
    return new SimKeySet(multihashes, stride, lengths, kadKeys)
  }

  private constructor(multihashes: Uint8Array, stride: number, lengths: number | Uint16Array, kadKeys: Uint8Array) {
    this.size = kadKeys.length / KEY_BYTES
    this.multihashes = multihashes
    this.stride = stride
    this.lengths = lengths
    this.kadKeys = kadKeys
    this.bucketStart = new Uint32Array(BUCKETS + 1)
    for (let i = 0; i < this.size; i++) this.bucketStart[this.group(i) + 1]++
    for (let g = 0; g < BUCKETS; g++) this.bucketStart[g + 1] += this.bucketStart[g]
  }

  /** Key i in index order, as views into the set's buffers (no copy; do not modify). */
  at(i: number): ProvideKey {
    if (!(i >= 0 && i < this.size)) throw new RangeError(`key index ${i} out of range [0, ${this.size})`)
    const start = i * this.stride
    const length = typeof this.lengths === 'number' ? this.lengths : this.lengths[i]
    return {
      multihash: this.multihashes.subarray(start, start + length),
      key: this.kadKeys.subarray(i * KEY_BYTES, (i + 1) * KEY_BYTES)
    }
  }

  /** Keys whose kad key starts with prefix. */
  count(prefix: Prefix): number {
    const [lo, hi, filter] = this.span(prefix)
    if (!filter) return hi - lo
    let n = 0
    for (let i = lo; i < hi; i++) if (filter(i)) n++
    return n
  }

  /** The keys under prefix, in index order, in batches of at most batchSize. */
  async *keys(prefix: Prefix, batchSize: number): AsyncIterable<readonly ProvideKey[]> {
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batchSize must be a positive integer, got ${batchSize}`)
    const [lo, hi, filter] = this.span(prefix)
    let batch: ProvideKey[] = []
    for (let i = lo; i < hi; i++) {
      if (filter && !filter(i)) continue
      batch.push(this.at(i))
      if (batch.length === batchSize) {
        yield batch
        batch = []
      }
    }
    if (batch.length > 0) yield batch
  }

  private group(i: number): number {
    return (this.kadKeys[i * KEY_BYTES] << 8) | this.kadKeys[i * KEY_BYTES + 1]
  }

  /**
   * The index range holding the prefix's 16-bit groups, plus a filter for the
   * bits past 16 when the prefix is longer (those keys are not contiguous).
   */
  private span(prefix: Prefix): [number, number, ((i: number) => boolean) | undefined] {
    parsePrefix(prefix)
    const head = prefix.slice(0, BUCKET_BITS)
    const first = prefixToInt(head) << (BUCKET_BITS - head.length)
    const end = first + (1 << (BUCKET_BITS - head.length))
    const lo = this.bucketStart[first]
    const hi = this.bucketStart[end]
    if (prefix.length <= BUCKET_BITS) return [lo, hi, undefined]
    const wanted = keyInPrefix(prefix)
    const wholeBytes = prefix.length >>> 3
    const tailBits = prefix.length & 7
    const tailMask = (0xff << (8 - tailBits)) & 0xff
    const keys = this.kadKeys
    const filter = (i: number): boolean => {
      const at = i * KEY_BYTES
      // Bytes 0-1 already match: the index range is the prefix's 16-bit group.
      for (let b = 2; b < wholeBytes; b++) if (keys[at + b] !== wanted[b]) return false
      return tailBits === 0 || (keys[at + wholeBytes] & tailMask) === wanted[wholeBytes]
    }
    return [lo, hi, filter]
  }
}

/**
 * Moves record i to destination[i] in both word arrays, swapping along cycles,
 * so sorting needs no second copy of hundreds of megabytes. Consumes destination.
 */
function permuteInPlace(destination: Uint32Array, a: Uint32Array, aWords: number, b: Uint32Array, bWords: number): void {
  for (let i = 0; i < destination.length; i++) {
    while (destination[i] !== i) {
      const d = destination[i]
      swapRecords(a, aWords, i, d)
      swapRecords(b, bWords, i, d)
      destination[i] = destination[d]
      destination[d] = d
    }
  }
}

function swapRecords(words: Uint32Array, stride: number, i: number, j: number): void {
  const x = i * stride
  const y = j * stride
  for (let o = 0; o < stride; o++) {
    const t = words[x + o]
    words[x + o] = words[y + o]
    words[y + o] = t
  }
}
