import type { Redis } from 'ioredis'
import { parsePrefix, type Prefix } from '@sweep/keyspace'
import { bucketOfMultihash } from './bucket-hash.ts'
import { DEFAULT_BUCKET_BITS, KeystoreMissingError, type KeystoreOptions } from './keystore-config.ts'
import type { KeystoreReset } from './keystore-reset.ts'
import { shuffle } from './keystore-read.ts'
import type { RebucketState } from './keystore-rebucket.ts'
import { Keystore, type AddRepair, type PackedMultihashes, type StoredKey } from './keystore.ts'
import { DEFAULT_NAMESPACE, parseNamespace, storeKeys } from './names.ts'
import { packMultihashes, unpackMultihashes } from './packed-add.ts'
import { isCluster } from './redis.ts'

/** Shards of a keystore created on a Redis Cluster: enough that they spread evenly over a few dozen masters. */
export const DEFAULT_CLUSTER_SHARDS = 64
const MAX_SHARDS = 1024

/** What the coordinator, the workers and the API use of a keystore, sharded or not. */
export type AnyKeystore = Keystore | ShardedKeystore

export interface OpenKeystoreOptions extends Omit<KeystoreOptions, 'shard'> {
  /**
   * Shards of a keystore created here (a power of two): 1 on one Redis, DEFAULT_CLUSTER_SHARDS
   * on a cluster. An existing keystore keeps the shards it was created with.
   */
  shards?: number
}

/**
 * The namespace's keystore: a plain Keystore, or a ShardedKeystore when it was created with
 * more than one shard. The shard count is fixed at creation, in the namespace's keystore
 * config; a keystore that predates shards has none there and is one shard.
 */
export async function openKeystore(redis: Redis, options: OpenKeystoreOptions = {}): Promise<AnyKeystore> {
  const namespace = parseNamespace(options.namespace ?? DEFAULT_NAMESPACE)
  const wanted = options.shards ?? (isCluster(redis) ? DEFAULT_CLUSTER_SHARDS : 1)
  const bits = Math.log2(wanted)
  if (!(Number.isInteger(bits) && wanted <= MAX_SHARDS && bits <= (options.bucketBits ?? DEFAULT_BUCKET_BITS))) {
    throw new Error(`shards: expected a power of two from 1 to ${MAX_SHARDS}, at most 2^bucketBits, got ${wanted}`)
  }
  const config = storeKeys(namespace).keystoreConfig
  const [stored, bucketBits] = await redis.hmget(config, 'shards', 'bucketBits')
  let shards = stored
  if (shards === null && bucketBits === null && options.create !== false) {
    await redis.hsetnx(config, 'shards', wanted)
    shards = await redis.hget(config, 'shards')
  }
  if (shards === null && bucketBits === null) throw new KeystoreMissingError(namespace)
  const count = Number(shards ?? 1)
  const warnings = options.shards !== undefined && options.shards !== count
    ? [`the keystore was created with ${count} shard(s); the ${options.shards} asked for apply only to a new namespace`]
    : []
  if (count === 1) return withWarnings(await Keystore.open(redis, options), warnings)
  return withWarnings(await ShardedKeystore.open(redis, { ...options, namespace }, count), warnings)
}

function withWarnings<T extends AnyKeystore>(keystore: T, warnings: string[]): T {
  if (warnings.length > 0) (keystore.warnings as string[]).push(...warnings)
  return keystore
}

/**
 * A keystore split by the first bits of the kad key into shards, each a whole Keystore
 * (generations, counters, dirty marks, re-bucketing) under its own hash tag, so every
 * script runs in one Redis Cluster slot and the shards spread the set over the masters.
 * A write is split by shard; a read of a prefix goes to the shards it covers, in keyspace
 * order. A reset would have to switch every shard at once, which a cluster cannot do in
 * one step, so a sharded keystore has none (adds and removes do the same job, not atomically).
 */
export class ShardedKeystore {
  readonly shards: readonly Keystore[]
  readonly warnings: readonly string[]
  /** The kad-key bits that choose the shard. */
  readonly shardBits: number
  private readonly redis: Redis
  private readonly namespace: string

  private constructor(redis: Redis, namespace: string, shards: Keystore[]) {
    this.redis = redis
    this.namespace = namespace
    this.shards = shards
    this.shardBits = Math.log2(shards.length)
    this.warnings = [...new Set(shards.flatMap((shard) => shard.warnings))]
  }

  static async open(redis: Redis, options: KeystoreOptions, count: number): Promise<ShardedKeystore> {
    const bits = Math.log2(count)
    const shards = await Promise.all(Array.from({ length: count }, (_, index) => Keystore.open(redis, { ...options, shard: { index, bits } })))
    return new ShardedKeystore(redis, options.namespace ?? DEFAULT_NAMESPACE, shards)
  }

  /** The bucket bits the shards were opened with (each re-buckets on its own: see currentBits). */
  get bucketBits(): number {
    return this.shards[0].bucketBits
  }

  get location(): { readonly redis: Redis; readonly namespace: string } {
    return { redis: this.redis, namespace: this.namespace }
  }

  bucketOf(multihash: Uint8Array): number {
    return bucketOfMultihash(multihash, this.bucketBits)
  }

  bucketPrefix(bucket: number): Prefix {
    return bucket.toString(2).padStart(this.bucketBits, '0')
  }

  async add(multihashes: readonly Uint8Array[], options: { once?: boolean } = {}): Promise<Uint8Array[]> {
    const added = new Map<Uint8Array, number>()
    await this.eachShard(multihashes, async (shard, part) => {
      for (const multihash of await shard.add(part, options)) added.set(multihash, (added.get(multihash) ?? 0) + 1)
    })
    // in input order, as Keystore.add returns them
    return multihashes.filter((multihash) => {
      const left = added.get(multihash) ?? 0
      if (left > 0) added.set(multihash, left - 1)
      return left > 0
    })
  }

  async addCount(
    multihashes: readonly Uint8Array[] | PackedMultihashes, options: { once?: boolean; markDirty?: boolean } = {}
  ): Promise<{ added: number; prefixes: Set<Prefix> }> {
    const list = Array.isArray(multihashes) ? multihashes as readonly Uint8Array[] : unpackMultihashes(multihashes as PackedMultihashes)
    let added = 0
    const prefixes = new Set<Prefix>()
    await this.eachShard(list, async (shard, part) => {
      const outcome = await shard.addCount(packMultihashes(part), options)
      // after the await: `added += await …` would read added before the other shards' writes
      added += outcome.added
      for (const prefix of outcome.prefixes) prefixes.add(prefix)
    })
    return { added, prefixes }
  }

  async remove(multihashes: readonly Uint8Array[]): Promise<number> {
    return this.sumOver(multihashes, (shard, part) => shard.remove(part))
  }

  async removeOnce(multihashes: readonly Uint8Array[]): Promise<number> {
    return this.sumOver(multihashes, (shard, part) => shard.removeOnce(part))
  }

  lookup(multihash: Uint8Array): Promise<{ stored: boolean; once: boolean }> {
    return this.shards[bucketOfMultihash(multihash, this.shardBits)].lookup(multihash)
  }

  async count(prefix: Prefix = ''): Promise<number> {
    let n = 0
    for (const { shard, within } of this.covering(prefix)) n += await shard.count(within)
    return n
  }

  async total(): Promise<number> {
    return sum(await Promise.all(this.shards.map((shard) => shard.total())))
  }

  async recount(): Promise<number> {
    return sum(await Promise.all(this.shards.map((shard) => shard.recount())))
  }

  async repairUnsettledAdds(): Promise<AddRepair> {
    const repairs = await Promise.all(this.shards.map((shard) => shard.repairUnsettledAdds()))
    const repair = { repaired: sum(repairs.map((r) => r.repaired)), running: sum(repairs.map((r) => r.running)) }
    return repairs.every((r) => r.total !== undefined) ? { ...repair, total: sum(repairs.map((r) => r.total!)) } : repair
  }

  /** The keys under prefix, shard after shard in keyspace order (see Keystore.keys). */
  async *keys(prefix: Prefix, batchSize: number): AsyncIterable<StoredKey[]> {
    for (const { shard, within } of this.covering(prefix)) yield* shard.keys(within, batchSize)
  }

  /** Up to n keys at random, each shard giving its share of n by its size. */
  async sample(n: number): Promise<Uint8Array[]> {
    if (!(Number.isInteger(n) && n >= 0)) throw new Error(`sample: expected a non-negative integer count, got ${n}`)
    const totals = await Promise.all(this.shards.map((shard) => shard.total()))
    const all = sum(totals)
    if (n === 0 || all === 0) return []
    const parts = await Promise.all(this.shards.map((shard, i) => shard.sample(Math.min(totals[i], Math.ceil(n * totals[i] / all)))))
    return shuffle(parts.flat()).slice(0, n)
  }

  beginReset(): Promise<KeystoreReset> {
    return Promise.reject(new ShardedResetError(this.shards.length))
  }

  resumeReset(): Promise<KeystoreReset> {
    return Promise.reject(new ShardedResetError(this.shards.length))
  }

  /** The fewest bucket bits of any shard (the shards re-bucket one at a time). */
  async currentBits(): Promise<number> {
    return Math.min(...await Promise.all(this.shards.map((shard) => shard.currentBits())))
  }

  /** The re-bucketing under way in some shard, if any. */
  async rebucketState(): Promise<RebucketState | undefined> {
    return (await Promise.all(this.shards.map((shard) => shard.rebucketState()))).find((state) => state !== undefined)
  }

  /** The shards a prefix covers, each with the prefix narrowed to it, in keyspace order. */
  private covering(prefix: Prefix): { shard: Keystore; within: Prefix }[] {
    parsePrefix(prefix)
    const bits = this.shardBits
    if (prefix.length >= bits) return [{ shard: this.shards[parseInt(prefix.slice(0, bits), 2)], within: prefix }]
    const first = (prefix === '' ? 0 : parseInt(prefix, 2)) << (bits - prefix.length)
    return Array.from({ length: 2 ** (bits - prefix.length) }, (_, i) => ({
      shard: this.shards[first + i], within: (first + i).toString(2).padStart(bits, '0')
    }))
  }

  /** Runs write on each shard's share of multihashes, the shards in parallel (on a cluster they are apart). */
  private async eachShard(multihashes: readonly Uint8Array[], write: (shard: Keystore, part: Uint8Array[]) => Promise<void>): Promise<void> {
    const parts: Uint8Array[][] = this.shards.map(() => [])
    multihashes.forEach((multihash, i) => {
      if (!(multihash instanceof Uint8Array) || multihash.length === 0) throw new Error(`multihashes[${i}]: expected non-empty bytes`)
      parts[bucketOfMultihash(multihash, this.shardBits)].push(multihash)
    })
    await Promise.all(parts.map((part, i) => (part.length === 0 ? undefined : write(this.shards[i], part))))
  }

  private async sumOver(multihashes: readonly Uint8Array[], write: (shard: Keystore, part: Uint8Array[]) => Promise<number>): Promise<number> {
    const counts: number[] = []
    await this.eachShard(multihashes, async (shard, part) => { counts.push(await write(shard, part)) })
    return sum(counts)
  }
}

/** A reset was asked of a sharded keystore, which has none. */
export class ShardedResetError extends Error {
  constructor(shards: number) {
    super(`the keystore is sharded (${shards} shards, as on a Redis Cluster), and a reset cannot switch every shard in one step; replace the set by adding the new CIDs (sweep provide) and removing the old ones (sweep stop)`)
    this.name = 'ShardedResetError'
  }
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0)
}
