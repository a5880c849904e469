import { bitAt, keyHead32, type KadKey } from '@sweep/keyspace'
import type { Prng } from './prng.ts'
import type { SortedKeys } from './sorted-keys.ts'

/**
 * Every server's routing table in two flat arrays: server i's contacts are
 * contacts[offsets[i] .. offsets[i + 1]), as indices into the sorted keys.
 * 25k servers × ~250 contacts is ~25 MB this way, against hundreds as objects.
 */
export interface RoutingTables {
  readonly offsets: Int32Array
  readonly contacts: Int32Array
}

/** An append-only Int32Array that doubles as it fills. */
export class Int32List {
  private data: Int32Array
  length = 0

  constructor(capacity = 1024) {
    this.data = new Int32Array(capacity)
  }

  push(value: number): void {
    if (this.length === this.data.length) {
      const grown = new Int32Array(this.data.length * 2)
      grown.set(this.data)
      this.data = grown
    }
    this.data[this.length++] = value
  }

  /** The filled part, copied into an array of exactly that length. */
  toInt32Array(): Int32Array {
    return this.data.slice(0, this.length)
  }
}

/**
 * Appends a k-bucket routing table for `selfKey` to `out`: for each common
 * prefix length c with selfKey, up to bucketSize servers drawn at random from
 * those sharing exactly c leading bits with it (all of them when fewer). In
 * sorted order each such bucket is one contiguous range: the sibling subtree
 * at depth c. `self` is the key's own index when it is a server, else -1.
 */
export function sampleRoutingTable(keys: SortedKeys, selfKey: KadKey, self: number, bucketSize: number, prng: Prng, out: Int32List): void {
  const picked: number[] = []
  for (const { depth, lo, hi, split } of keys.subtreesAround(selfKey, self)) {
    const [bucketLo, bucketHi] = bitAt(selfKey, depth) === 0 ? [split, hi] : [lo, split]
    sampleDistinct(bucketHi - bucketLo, bucketSize, prng, picked)
    for (const offset of picked) out.push(bucketLo + offset)
  }
}

export function buildRoutingTables(keys: SortedKeys, bucketSize: number, prng: Prng): RoutingTables {
  const offsets = new Int32Array(keys.size + 1)
  // Full buckets run ~log2(servers / bucketSize) deep, then a few partial ones.
  const expectedPerServer = bucketSize * (Math.ceil(Math.log2(Math.max(2, keys.size / bucketSize))) + 2)
  const contacts = new Int32List(keys.size * expectedPerServer)
  for (let i = 0; i < keys.size; i++) {
    offsets[i] = contacts.length
    sampleRoutingTable(keys, keys.key(i), i, bucketSize, prng, contacts)
  }
  offsets[keys.size] = contacts.length
  return { offsets, contacts: contacts.toInt32Array() }
}

/**
 * Floyd's sampling: `count` distinct values of [0, range) into `out` in O(count),
 * however large the range (a bucket near the root spans half the network).
 */
function sampleDistinct(range: number, count: number, prng: Prng, out: number[]): void {
  out.length = 0
  if (range <= count) {
    for (let i = 0; i < range; i++) out.push(i)
    return
  }
  for (let j = range - count; j < range; j++) {
    const t = prng.int(j + 1)
    out.push(out.includes(t) ? j : t)
  }
}

/**
 * The `count` entries of contacts[start, end) XOR-closest to target, closest
 * first. A server answering FIND_NODE and a host seeding a lookup both do this.
 */
export function closestAmong(keys: SortedKeys, contacts: ArrayLike<number>, start: number, end: number, target: KadKey, count: number): number[] {
  const best: number[] = []
  if (count <= 0) return best
  const targetHead = keyHead32(target)
  for (let p = start; p < end; p++) {
    const candidate = contacts[p]
    if (best.length === count && keys.compareDistance(target, targetHead, candidate, best[count - 1]) >= 0) continue
    // Insertion into a list of at most `count` (20) beats sorting hundreds of contacts.
    let at = best.length
    while (at > 0 && keys.compareDistance(target, targetHead, candidate, best[at - 1]) < 0) at--
    if (best.length === count) best.pop()
    best.splice(at, 0, candidate)
  }
  return best
}
