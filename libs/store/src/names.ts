import calculateSlot from 'cluster-key-slot'
import type { Prefix } from '@sweep/keyspace'

export const DEFAULT_NAMESPACE = 'sweep'

const NAMESPACE_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/

export function parseNamespace(namespace: string): string {
  if (!NAMESPACE_PATTERN.test(namespace)) {
    throw new Error(`namespace: expected 1 to 64 letters, digits, '_', '.' or '-', got ${JSON.stringify(namespace)}`)
  }
  return namespace
}

/**
 * The Redis Cluster hash tag of a namespace. BullMQ queues use it as their prefix, so
 * the meta keys below and the queues live in one slot and Lua scripts may touch both.
 */
export function hashTag(namespace: string = DEFAULT_NAMESPACE): string {
  return `{${parseNamespace(namespace)}}`
}

/** One shard of a sharded keystore: its index among count shards. */
export interface ShardOf {
  readonly index: number
  readonly count: number
}

const CLUSTER_SLOTS = 16_384
const shardTags = new Map<string, string>()

/**
 * The hash tag of one shard of a sharded keystore (see ShardedKeystore): each shard's
 * buckets and bookkeeping share one Redis Cluster slot, so its scripts stay single-slot.
 * Shard i of n is given a tag `{<ns>/<i>.<salt>}` whose slot lies in the i-th n-th of the
 * slots (the first salt that lands there), so masters that own equal runs of slots, as
 * `redis-cli --cluster create` deals them, own equal numbers of shards; tags left to chance
 * put 25% and 40% of the set on two of three masters. '/' is not allowed in a namespace, so
 * no namespace's own tag can be a shard's.
 */
export function shardTag(namespace: string, shard: ShardOf): string {
  const { index, count } = shard
  if (!(Number.isInteger(count) && count >= 1 && count <= CLUSTER_SLOTS && Number.isInteger(index) && index >= 0 && index < count)) {
    throw new Error(`shard: expected an index below a count of at most ${CLUSTER_SLOTS}, got ${JSON.stringify(shard)}`)
  }
  const id = `${parseNamespace(namespace)}/${index}/${count}`
  let tag = shardTags.get(id)
  if (tag === undefined) {
    const first = Math.floor(index * CLUSTER_SLOTS / count)
    const end = Math.floor((index + 1) * CLUSTER_SLOTS / count)
    // a run of 16384/count slots is hit once per count salts on average: 64 tries for 64 shards, 1k for 1024
    for (let salt = 0; tag === undefined; salt++) {
      const candidate = `${namespace}/${index}.${salt}`
      const slot = calculateSlot(candidate)
      if (slot >= first && slot < end) tag = `{${candidate}}`
    }
    shardTags.set(id, tag)
  }
  return tag
}

/**
 * Names of the coordination keys. All carry the namespace's hash tag; `store:` keeps
 * them apart from BullMQ's `{ns}:<queue>:...` keys.
 */
export interface StoreKeys {
  readonly cycleStart: string
  readonly network: string
  readonly schedule: string
  readonly dirty: string
  /** Pub/sub channel: a message says the dirty hash got marks, so the leader schedules now, not at its next tick. */
  readonly dirtyWake: string
  /** HASH prefix → traceparent of the sampled provide request that last marked it, for the burst job's span links. */
  readonly dirtyTraces: string
  readonly counters: string
  readonly workers: string
  readonly workerExpiry: string
  readonly lease: string
  readonly leaseEpoch: string
  readonly keystoreConfig: string
  /** The generation keys() and add() use now. */
  readonly keystoreGeneration: string
  readonly keystoreGenerationSeq: string
  /** Every generation that may still have buckets: the current one, a reset in progress, leftovers. */
  readonly keystoreGenerations: string
  readonly keystoreResetLock: string
  /** Native adds under way: `<writer>:<seq>` → the prefix width (2 digits), then the prefixes of the buckets the add touches. */
  readonly keystoreUnsettled: string
  /** Set when a total may be off (an add died between its writes and its count); cleared by a recount. */
  readonly keystoreRecountNeeded: string
  /** Prefix of the per-writer liveness keys (`<prefix><writer>`, with a short expiry). */
  readonly keystoreWriterPrefix: string
  /** A re-bucketing under way: from, to (generations), fromBits, toBits, phase, cursor. */
  readonly keystoreRebucket: string
  /** Bit per bucket of the generation being re-bucketed: written since it was copied. */
  readonly keystoreRebucketTouched: string
  /** Bucket keys are this, the generation, ':' and the bucket in hex (see bucketKey). */
  readonly keystoreBuckets: string
  keystoreTotal(generation: number): string
}

/**
 * The namespace's keys, or with shard, those of one shard of its sharded keystore: the
 * keystore's own keys then carry the shard's tag (the coordination keys that are not the
 * keystore's are only ever used through the namespace's names).
 */
export function storeKeys(namespace: string = DEFAULT_NAMESPACE, shard?: ShardOf): StoreKeys {
  const tag = shard === undefined ? hashTag(namespace) : shardTag(namespace, shard)
  const base = `${tag}:store`
  return {
    cycleStart: `${base}:cycle-start`,
    network: `${base}:network`,
    schedule: `${base}:schedule`,
    dirty: `${base}:dirty`,
    dirtyWake: `${base}:dirty-wake`,
    dirtyTraces: `${base}:dirty-traces`,
    counters: `${base}:counters`,
    workers: `${base}:workers`,
    workerExpiry: `${base}:worker-expiry`,
    lease: `${base}:leader`,
    leaseEpoch: `${base}:leader-epoch`,
    keystoreConfig: `${base}:ks:config`,
    keystoreGeneration: `${base}:ks:generation`,
    keystoreGenerationSeq: `${base}:ks:generation-seq`,
    keystoreGenerations: `${base}:ks:generations`,
    keystoreResetLock: `${base}:ks:reset-lock`,
    keystoreUnsettled: `${base}:ks:unsettled`,
    keystoreRecountNeeded: `${base}:ks:recount-needed`,
    keystoreWriterPrefix: `${base}:ks:writer:`,
    // the write scripts derive these (and `<rebucket>:copied`) from a total counter's name (see FORWARD)
    keystoreRebucket: `${base}:ks:rebucket`,
    keystoreRebucketTouched: `${base}:ks:rebucket:touched`,
    keystoreTotal: (generation) => `${base}:ks:total:${generation}`,
    // an unsharded keystore's buckets carry no tag (they predate sharding); a shard's carry its tag
    keystoreBuckets: `${shard === undefined ? namespace : tag}:ks:`
  }
}

/** A keystore bucket: `<ns>:ks:<generation>:<bucket hex>`, or `{<ns>/<shard>}:ks:…` in a shard. */
export function bucketKey(namespace: string, generation: number, bucket: number, bucketBits: number, shard?: ShardOf): string {
  return bucketKeyIn(storeKeys(namespace, shard).keystoreBuckets, generation, bucket, bucketBits)
}

export function bucketKeyIn(buckets: string, generation: number, bucket: number, bucketBits: number): string {
  return `${buckets}${generation}:${bucket.toString(16).padStart(Math.ceil(bucketBits / 4), '0')}`
}

/** The buckets [first, end) whose kad keys can start with prefix. */
export function bucketRange(prefix: Prefix, bucketBits: number): { first: number; end: number } {
  if (prefix.length >= bucketBits) {
    const bucket = prefix === '' ? 0 : parseInt(prefix.slice(0, bucketBits), 2)
    return { first: bucket, end: bucket + 1 }
  }
  const spread = 2 ** (bucketBits - prefix.length)
  const first = (prefix === '' ? 0 : parseInt(prefix, 2)) * spread
  return { first, end: first + spread }
}

/** The bucket of a kad key: its first bucketBits bits (at most 24). */
export function bucketOf(kadKey: Uint8Array, bucketBits: number): number {
  const head = ((kadKey[0] << 16) | (kadKey[1] << 8) | kadKey[2]) >>> 0
  return head >>> (24 - bucketBits)
}
