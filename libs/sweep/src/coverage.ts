import { bitAt, compareDistance, keyHasPrefix, prefixOf, PrefixTrie, type KadKey, type Prefix } from '@sweep/keyspace'
import type { Peer } from './ports.ts'

interface CoveredSubtree {
  /** Every reachable peer in the subtree: the ones a lookup proved, plus any seen since. */
  readonly peers: Map<string, Peer>
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
    if (peers.length === 0) return
    const sorted = [...peers].sort((a, b) => compareDistance(target, a.key, b.key))
    // a short answer (dead servers hid the rest) still proves the ball up to its farthest peer
    const farthest = sorted[Math.min(this.k, sorted.length) - 1].key
    for (let depth = 0; depth < this.dustDepth; depth++) {
      const side = bitAt(target, depth)
      if (bitAt(farthest, depth) !== side) this.cover(prefixOf(farthest, depth) + side, sorted, now)
    }
    this.cover(prefixOf(farthest, this.dustDepth), sorted, now)
    // Lookups through stale routing tables can miss a live peer that another lookup
    // found: a proven subtree takes every peer seen inside it, whichever lookup saw it.
    for (const p of sorted) this.trie.longestMatch(p.key)?.value.peers.set(p.id, p)
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
    return entries.flatMap((e) => [...e.peers.values()].filter((p) => keyHasPrefix(p.key, prefix)))
  }

  /** Drops peers found dead: the proofs stand for the peers still alive, who are now the closest. */
  forget(peerIds: readonly string[]): void {
    if (peerIds.length === 0) return
    const dead = new Set(peerIds)
    for (const [, covered] of this.trie.entriesUnder('')) {
      for (const id of covered.peers.keys()) if (dead.has(id)) covered.peers.delete(id)
    }
  }

  /** Forgets every proof that meets the prefix, so the next exploration starts from scratch. */
  invalidate(prefix: Prefix): void {
    const above = this.trie.longestMatch(prefix)
    if (above) this.trie.delete(above.prefix)
    for (const [inner] of [...this.trie.entriesUnder(prefix)]) this.trie.delete(inner)
  }

  private cover(prefix: Prefix, candidates: readonly Peer[], now: number): void {
    const ancestor = this.trie.longestMatch(prefix)
    if (ancestor && now - ancestor.value.at <= this.ttlMs) return
    if (ancestor) this.trie.delete(ancestor.prefix)
    const peers = new Map<string, Peer>()
    // older proofs inside the new subtree are subsumed, but the peers they saw still count
    for (const [inner, covered] of [...this.trie.entriesUnder(prefix)]) {
      for (const [id, p] of covered.peers) peers.set(id, p)
      this.trie.delete(inner)
    }
    for (const p of candidates) if (keyHasPrefix(p.key, prefix)) peers.set(p.id, p)
    this.trie.set(prefix, { peers, at: now })
  }

  private expire(prefix: Prefix, now: number): void {
    const stale: Prefix[] = []
    const above = this.trie.longestMatch(prefix)
    if (above && now - above.value.at > this.ttlMs) stale.push(above.prefix)
    for (const [p, v] of this.trie.entriesUnder(prefix)) if (now - v.at > this.ttlMs) stale.push(p)
    for (const p of stale) this.trie.delete(p)
  }
}
