import { bitAt, compareDistance, keyHasPrefix, prefixOf, PrefixTrie, type KadKey, type Prefix } from '@sweep/keyspace'
import type { Peer } from './ports.ts'

interface CoveredSubtree {
  /** Every reachable peer in the subtree, as proven by one lookup. */
  readonly peers: readonly Peer[]
  readonly at: number
}

/**
 * What lookups have proven about the keyspace: subtrees whose every reachable peer
 * is known. Shared across regions, so a region swept after its neighbour starts
 * with whatever the neighbour's lookups already proved.
 */
export class CoverageMap {
  readonly dustDepth: number
  readonly ttlMs: number
  private readonly k: number
  private readonly trie = new PrefixTrie<CoveredSubtree>()

  /**
   * @param dustDepth subtrees deeper than this are assumed empty: with N peers one
   *   holds N / 2^depth of them, so past log2(N) + 8 the expectation is under 1/256.
   * @param ttlMs proofs older than this are ignored (peers churn).
   */
  constructor(dustDepth: number, ttlMs: number, k: number) {
    this.dustDepth = dustDepth
    this.ttlMs = ttlMs
    this.k = k
  }

  /**
   * Records a lookup result: the k closest reachable peers to `target`. Every point
   * nearer to the target than the farthest result is proven, and that XOR ball is a
   * union of subtrees: the siblings of the farthest peer's path wherever that path
   * leaves the target's.
   */
  absorb(target: KadKey, peers: readonly Peer[], now: number): void {
    if (peers.length < this.k) {
      // fewer than k reachable peers in the whole network: the lookup saw all of them
      this.cover('', peers, now)
      return
    }
    const sorted = [...peers].sort((a, b) => compareDistance(target, a.key, b.key))
    const farthest = sorted[this.k - 1].key
    for (let depth = 0; depth < this.dustDepth; depth++) {
      const side = bitAt(target, depth)
      if (bitAt(farthest, depth) !== side) this.cover(prefixOf(farthest, depth) + side, sorted, now)
    }
    this.cover(prefixOf(farthest, this.dustDepth), sorted, now)
  }

  /** Uncovered subtrees under the prefix, in keyspace order (dust excluded). */
  gaps(prefix: Prefix, now: number): Prefix[] {
    this.expire(prefix, now)
    return this.trie.gaps(prefix, this.dustDepth)
  }

  /** Known peers under the prefix, from the proven subtrees that meet it. */
  peersUnder(prefix: Prefix): Peer[] {
    const above = this.trie.longestMatch(prefix)
    const entries = above ? [above.value] : [...this.trie.entriesUnder(prefix)].map(([, v]) => v)
    return entries.flatMap((e) => e.peers.filter((p) => keyHasPrefix(p.key, prefix)))
  }

  private cover(prefix: Prefix, candidates: readonly Peer[], now: number): void {
    const ancestor = this.trie.longestMatch(prefix)
    if (ancestor && now - ancestor.value.at <= this.ttlMs) return
    for (const [inner] of [...this.trie.entriesUnder(prefix)]) this.trie.delete(inner)
    if (ancestor) this.trie.delete(ancestor.prefix)
    this.trie.set(prefix, { peers: candidates.filter((p) => keyHasPrefix(p.key, prefix)), at: now })
  }

  private expire(prefix: Prefix, now: number): void {
    const stale: Prefix[] = []
    const above = this.trie.longestMatch(prefix)
    if (above && now - above.value.at > this.ttlMs) stale.push(above.prefix)
    for (const [p, v] of this.trie.entriesUnder(prefix)) if (now - v.at > this.ttlMs) stale.push(p)
    for (const p of stale) this.trie.delete(p)
  }
}
