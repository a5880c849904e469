import { bitAt, type KadKey } from './key.ts'
import type { Prefix } from './prefix.ts'

interface TrieNode<V> {
  value?: V
  hasValue: boolean
  children: [TrieNode<V> | undefined, TrieNode<V> | undefined]
}

function newNode<V>(): TrieNode<V> {
  return { hasValue: false, children: [undefined, undefined] }
}

/**
 * A binary trie keyed by prefixes. A stored prefix "covers" its whole subtree,
 * which is what exploration coverage and region lookup need.
 */
export class PrefixTrie<V> {
  private readonly root: TrieNode<V> = newNode()
  private count = 0

  get size(): number {
    return this.count
  }

  set(prefix: Prefix, value: V): void {
    let node = this.root
    for (let i = 0; i < prefix.length; i++) {
      const b = prefix.charCodeAt(i) - 48
      node = node.children[b] ??= newNode()
    }
    if (!node.hasValue) this.count++
    node.value = value
    node.hasValue = true
  }

  get(prefix: Prefix): V | undefined {
    const node = this.find(prefix)
    return node?.hasValue ? node.value : undefined
  }

  has(prefix: Prefix): boolean {
    return this.find(prefix)?.hasValue === true
  }

  delete(prefix: Prefix): boolean {
    const path: TrieNode<V>[] = [this.root]
    let node: TrieNode<V> | undefined = this.root
    for (let i = 0; i < prefix.length && node; i++) {
      node = node.children[prefix.charCodeAt(i) - 48]
      if (node) path.push(node)
    }
    if (!node || path.length !== prefix.length + 1 || !node.hasValue) return false
    node.hasValue = false
    node.value = undefined
    this.count--
    // prune empty branches so gap and subtree walks stay proportional to what is stored
    for (let depth = prefix.length; depth > 0; depth--) {
      const current = path[depth]
      if (current.hasValue || current.children[0] || current.children[1]) break
      path[depth - 1].children[prefix.charCodeAt(depth - 1) - 48] = undefined
    }
    return true
  }

  /** The longest stored prefix of the key (a kad key or a longer prefix), if any. */
  longestMatch(key: KadKey | Prefix): { prefix: Prefix; value: V } | undefined {
    const bits = typeof key === 'string' ? key.length : key.length * 8
    const bit = typeof key === 'string' ? (i: number) => key.charCodeAt(i) - 48 : (i: number) => bitAt(key, i)
    let node: TrieNode<V> | undefined = this.root
    let best: { prefix: Prefix; value: V } | undefined
    let path = ''
    for (let depth = 0; node; depth++) {
      if (node.hasValue) best = { prefix: path, value: node.value as V }
      if (depth >= bits) break
      const b = bit(depth)
      node = node.children[b]
      path += b
    }
    return best
  }

  /** Whether some stored prefix covers the given prefix (is it or an ancestor of it). */
  covers(prefix: Prefix): boolean {
    return this.longestMatch(prefix) !== undefined
  }

  /** Stored entries at or below the prefix, in keyspace order. */
  *entriesUnder(prefix: Prefix = ''): Generator<[Prefix, V]> {
    const start = this.find(prefix)
    if (!start) return
    const stack: Array<[TrieNode<V>, Prefix]> = [[start, prefix]]
    while (stack.length > 0) {
      const [node, path] = stack.pop()!
      if (node.hasValue) yield [path, node.value as V]
      if (node.children[1]) stack.push([node.children[1], path + '1'])
      if (node.children[0]) stack.push([node.children[0], path + '0'])
    }
  }

  /**
   * The maximal prefixes under `root` that no stored prefix covers, in keyspace order,
   * ignoring gaps deeper than maxDepth.
   */
  gaps(root: Prefix = '', maxDepth = Infinity): Prefix[] {
    if (this.covers(root)) return []
    const out: Prefix[] = []
    const walk = (node: TrieNode<V> | undefined, path: Prefix): void => {
      if (path.length > maxDepth) return
      if (!node) {
        out.push(path)
        return
      }
      if (node.hasValue) return
      walk(node.children[0], path + '0')
      walk(node.children[1], path + '1')
    }
    walk(this.find(root), root)
    return out
  }

  private find(prefix: Prefix): TrieNode<V> | undefined {
    let node: TrieNode<V> | undefined = this.root
    for (let i = 0; i < prefix.length && node; i++) node = node.children[prefix.charCodeAt(i) - 48]
    return node
  }
}
