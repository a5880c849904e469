import { bitAt, compareKeys, keyHasPrefix, type Prefix } from '@sweep/keyspace'
import type { KeySource, ProvideKey } from './ports.ts'

/**
 * An in-memory key source, sorted by kad key: for tests, small providers and
 * benchmarks. A prefix's keys are a contiguous run, found by binary search.
 */
export class MemoryKeySource implements KeySource {
  private readonly sorted: ProvideKey[]

  constructor(keys: Iterable<ProvideKey>) {
    this.sorted = [...keys].sort((a, b) => compareKeys(a.key, b.key))
  }

  get size(): number {
    return this.sorted.length
  }

  async *keys(prefix: Prefix, batchSize: number): AsyncIterable<readonly ProvideKey[]> {
    let i = this.firstAtOrAfter(prefix)
    while (i < this.sorted.length && keyHasPrefix(this.sorted[i].key, prefix)) {
      const batch: ProvideKey[] = []
      while (batch.length < batchSize && i < this.sorted.length && keyHasPrefix(this.sorted[i].key, prefix)) batch.push(this.sorted[i++])
      yield batch
    }
  }

  private firstAtOrAfter(prefix: Prefix): number {
    // keys below the prefix's first point sort before it; find the first that doesn't
    let lo = 0
    let hi = this.sorted.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (precedesPrefix(this.sorted[mid].key, prefix)) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}

function precedesPrefix(key: Uint8Array, prefix: Prefix): boolean {
  for (let i = 0; i < prefix.length; i++) {
    const bit = bitAt(key, i)
    const want = prefix.charCodeAt(i) - 48
    if (bit !== want) return bit < want
  }
  return false
}
