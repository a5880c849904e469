import { bitAt, compareDistance, type KadKey } from './key.ts'
import type { Keyed } from './regions.ts'

/** The k peers XOR-closest to the target, by brute force: the reference the fast path is tested against. */
export function closestPeers<P extends Keyed>(target: KadKey, peers: readonly P[], k: number): P[] {
  return [...peers].sort((a, b) => compareDistance(target, a.key, b.key)).slice(0, k)
}

/**
 * Allocates every key to its k XOR-closest peers. Returns, for each peer (same index
 * as `peers`), the keys it must hold.
 *
 * Works on the binary trie instead of sorting per key: at each bit, keys whose side
 * holds ≥ need peers recurse into that side alone; otherwise they take the whole side
 * and look for the remainder on the other side. Cost is O((keys + peers) × depth).
 */
export function allocate<K extends Keyed, P extends Keyed>(keys: readonly K[], peers: readonly P[], k: number): K[][] {
  const out: K[][] = peers.map(() => [])
  const giveAll = (keyGroup: readonly K[], peerGroup: readonly number[]): void => {
    for (const p of peerGroup) {
      const bucket = out[p]
      for (const key of keyGroup) bucket.push(key)
    }
  }
  const walk = (keyGroup: K[], peerGroup: number[], depth: number, need: number): void => {
    if (keyGroup.length === 0 || need <= 0) return
    if (peerGroup.length <= need) {
      giveAll(keyGroup, peerGroup)
      return
    }
    const keySides: [K[], K[]] = [[], []]
    for (const key of keyGroup) keySides[bitAt(key.key, depth)].push(key)
    const peerSides: [number[], number[]] = [[], []]
    for (const p of peerGroup) peerSides[bitAt(peers[p].key, depth)].push(p)
    for (const side of [0, 1] as const) {
      const same = peerSides[side]
      const other = peerSides[1 - side]
      if (same.length >= need) {
        walk(keySides[side], same, depth + 1, need)
      } else {
        giveAll(keySides[side], same)
        walk(keySides[side], other, depth + 1, need - same.length)
      }
    }
  }
  walk([...keys], peers.map((_, i) => i), 0, k)
  return out
}
