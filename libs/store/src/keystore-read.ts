import { keyHasPrefix, type Prefix } from '@sweep/keyspace'
import type { ProvideKey } from '@sweep/sweep'
import { execPipeline } from './scripts.ts'
import { bucketName, ownBuckets, PIPELINE_BUCKETS, readBuckets, sha256, type GenerationView } from './keystore-generations.ts'
import { bucketRange } from './names.ts'

export interface StoredKey extends ProvideKey {
  /** Provide once, don't reprovide. */
  readonly once: boolean
}

/** Buckets per read of a stream, at most: the same bound as any pipeline over buckets. */
const MAX_BUCKETS_PER_READ = PIPELINE_BUCKETS

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

/**
 * Up to n distinct stored multihashes of a view's generation of total keys, at random:
 * small sets are read whole and shuffled, larger ones sampled by HRANDFIELD.
 */
export async function sampleKeys(view: GenerationView, total: number, n: number): Promise<Uint8Array[]> {
  if (total <= 4 * n || total <= 2 ** view.context.bucketBits) {
    const all = new Map<string, Buffer>()
    for await (const batch of streamKeys(view, total, view.context.ownPrefix, 10_000)) for (const { multihash } of batch) all.set(Buffer.from(multihash).toString('hex'), Buffer.from(multihash))
    return shuffle([...all.values()]).slice(0, n)
  }
  return randomMembers(view, n)
}

/** Up to n distinct members of random buckets of a generation (HRANDFIELD): keys in sparse buckets are a little more likely. */
export async function randomMembers({ generation, context }: GenerationView, n: number): Promise<Buffer[]> {
  const picked = new Map<string, Buffer>()
  const { first, end } = ownBuckets(context)
  for (let round = 0; round < 20 && picked.size < n; round++) {
    const pipeline = context.redis.pipeline()
    const want = Math.min(PIPELINE_BUCKETS, 2 * (n - picked.size))
    for (let i = 0; i < want; i++) pipeline.hrandfieldBuffer(bucketName(context, generation, first + Math.floor(Math.random() * (end - first))))
    for (const field of await execPipeline(pipeline)) {
      if (field instanceof Buffer && picked.size < n) picked.set(field.toString('hex'), field)
    }
  }
  return [...picked.values()]
}

export function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]]
  }
  return items
}
