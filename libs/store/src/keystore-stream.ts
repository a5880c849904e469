import { keyHasPrefix, type Prefix } from '@sweep/keyspace'
import type { ProvideKey } from '@sweep/sweep'
import { readBuckets, sha256, type GenerationView } from './keystore-generations.ts'
import { bucketRange } from './names.ts'

export interface StoredKey extends ProvideKey {
  /** Provide once, don't reprovide. */
  readonly once: boolean
}

const MAX_BUCKETS_PER_READ = 4096

/**
 * Every key under prefix in the generation of start and, when a re-bucketing or reset
 * switches generations meanwhile, from the same point of the keyspace on in the new one:
 * each round trip that reads buckets also reads which generation is current, so the old
 * one is left before it is deleted. total (the keystore's size) sizes the reads.
 */
export async function * streamKeys(start: GenerationView, total: number, prefix: Prefix, batchSize: number): AsyncIterable<StoredKey[]> {
  let view = start
  let { first: from, end } = bucketRange(prefix, view.context.bucketBits)
  let filter = false
  let step = 1
  const follow = (to: GenerationView) => {
    const bits = to.context.bucketBits
    const range = bucketRange(prefix, bits)
    // the same point of the keyspace in the new generation's buckets (bits only grow)
    from = Math.max(range.first, from * 2 ** (bits - view.context.bucketBits))
    end = range.end
    view = to
    filter = prefix.length > bits
    // Buckets per pipeline: about batchSize keys' worth. A sparse keystore (a region
    // spanning thousands of near-empty buckets) reads up to 4096 per round trip: at 256
    // a burst job for one new CID on a 3-bit region spent ~0.5 s in 32 round trips.
    step = Math.min(MAX_BUCKETS_PER_READ, Math.max(1, Math.ceil(batchSize / Math.max(1, total / 2 ** bits))))
  }
  follow(view)
  const read = (at: number) => {
    const pending = readBuckets(view, at, Math.min(end, at + step))
    pending.catch(() => {}) // a consumer that stops early never awaits the prefetch
    return pending
  }
  let next = read(from)
  let batch: StoredKey[] = []
  while (from < end) {
    const { current, buckets } = await next
    if (current.generation !== view.generation) {
      // a re-bucketing or reset switched generations: go on from here in the new one,
      // before the old one is deleted (this read's buckets may be from either)
      follow(current)
      next = read(from)
      continue
    }
    if (from + step < end) next = read(from + step)
    from += step
    for (const pairs of buckets) {
      for (let i = 0; i < pairs.length; i += 2) {
        const key = sha256(pairs[i])
        if (filter && !keyHasPrefix(key, prefix)) continue
        batch.push({ multihash: pairs[i], key, once: pairs[i + 1].length > 0 })
        if (batch.length === batchSize) {
          yield batch
          batch = []
        }
      }
    }
  }
  if (batch.length > 0) yield batch
}
