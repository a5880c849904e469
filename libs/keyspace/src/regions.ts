import { bitAt, type KadKey } from './key.ts'
import { keyHasPrefix, type Prefix } from './prefix.ts'
import { PrefixTrie } from './trie.ts'

export interface Keyed {
  readonly key: KadKey
}

export interface Region<P extends Keyed> {
  readonly prefix: Prefix
  readonly peers: P[]
}

/**
 * Splits the peers under `root` into regions: a subtree splits only while both halves
 * hold at least k peers, so every region but a too-small root holds ≥ k peers and the
 * k closest peers of any key in a region lie inside it.
 */
export function regionsOf<P extends Keyed>(peers: readonly P[], root: Prefix, k: number): Region<P>[] {
  const inside = peers.filter((p) => keyHasPrefix(p.key, root))
  const out: Region<P>[] = []
  const split = (group: P[], prefix: Prefix): void => {
    const zero: P[] = []
    const one: P[] = []
    for (const p of group) (bitAt(p.key, prefix.length) === 0 ? zero : one).push(p)
    if (zero.length >= k && one.length >= k) {
      split(zero, prefix + '0')
      split(one, prefix + '1')
    } else {
      out.push({ prefix, peers: group })
    }
  }
  split(inside, root)
  return out
}

/**
 * Maps keys to the region that holds them. Regions need not cover the keyspace:
 * a key outside every region goes to the region sharing its longest common prefix,
 * so no key is ever dropped.
 */
export class RegionIndex {
  private readonly trie = new PrefixTrie<true>()

  constructor(prefixes: Iterable<Prefix>) {
    for (const p of prefixes) this.trie.set(p, true)
    if (this.trie.size === 0) throw new Error('RegionIndex needs at least one region')
  }

  regionOf(key: KadKey): Prefix {
    const match = this.trie.longestMatch(key)
    if (match) return match.prefix
    // walk down the key's path as far as stored prefixes go, then take the first region below
    let path = ''
    while (this.trie.entriesUnder(path + bitAt(key, path.length)).next().done === false) path += bitAt(key, path.length)
    const first = this.trie.entriesUnder(path).next()
    if (first.done) throw new Error('unreachable: a non-empty trie has an entry under the root')
    return first.value[0]
  }
}
