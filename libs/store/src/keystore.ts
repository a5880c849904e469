import type { Redis } from 'ioredis'
import { keyHasPrefix, parsePrefix, type Prefix } from '@sweep/keyspace'
import {
  addToGeneration, bucketName, currentView, deleteOrphanGenerations, PIPELINE_BUCKETS, planCalls, removeFromGeneration,
  REWRITE, sha256, STORED_ALREADY, WRITE_CHUNK, type GenerationView, type KeystoreContext
} from './keystore-generations.ts'
import { bucketOfMultihash } from './bucket-hash.ts'
import { GenerationReset, type KeystoreReset } from './keystore-reset.ts'
import { Rebucketing, type RebucketState } from './keystore-rebucket.ts'
import { sampleKeys, streamKeys, type StoredKey } from './keystore-read.ts'
import { checkListpackConfig } from './listpack.ts'
import {
  bucketBitsFor, DEFAULT_BUCKET_BITS, KeystoreMissingError, RebucketingInProgressError, TARGET_PER_BUCKET, type KeystoreOptions
} from './keystore-config.ts'
import { bucketRange, DEFAULT_NAMESPACE, parseNamespace, storeKeys } from './names.ts'
import { isCluster } from './redis.ts'
import {
  addCountNative, addCountToGeneration, distinctBuckets, packedCount, packedSlice, packMultihashes, settle, type PackedMultihashes
} from './packed-add.ts'
import { defineScripts, execPipeline, runScript } from './scripts.ts'
import { AddJournal, repairUnsettledAdds, type AddRepair } from './unsettled-adds.ts'

export type { PackedMultihashes } from './packed-add.ts'
export type { AddRepair } from './unsettled-adds.ts'
export type { StoredKey } from './keystore-read.ts'

/**
 * Multihashes per pipeline in addCount: the more per call, the more share a bucket, and
 * one HSET carries them all (Redis' cost is mostly per command). 128k is about 5 MB.
 */
const COUNT_CHUNK = 131_072
/** Attempts of a write whose calls a re-bucketing's switch refused (see untilWritten). */
const MAX_WRITE_ATTEMPTS = 3
/** After a native add failed, the script path is used this long before native is tried again. */
const NATIVE_RETRY_MS = 10_000
/** How long recount() waits for adds under way to settle before it gives up. */
const RECOUNT_WAIT_MS = 30_000

/**
 * The set of multihashes to provide, in Redis. Members live in HASH buckets keyed by
 * the first bucketBits bits of their kad key, field = multihash bytes, value '' or '1'
 * (once). Small buckets stay listpack-encoded: about 38 bytes per sha2-256 multihash.
 * The set has generations so a reset can be built beside the current set and
 * switched in one step.
 */
export class Keystore {
  readonly bucketBits: number
  readonly warnings: readonly string[]
  private readonly context: KeystoreContext
  private readonly resetLockTtlMs: number
  private readonly journal: AddJournal
  /** The bits asked for at open, or the keystore's then (see bitsWanted). */
  private wantedBits = 0
  /** Whether permanent adds may go native (addCountNative). */
  private native = true
  /** Native adds resume at this time after a failure. */
  private nativeAfter = 0
  private nativeError: string | undefined

  private constructor(context: KeystoreContext, warnings: string[], resetLockTtlMs: number, writerTtlMs: number | undefined) {
    this.context = context
    this.journal = new AddJournal(context, writerTtlMs)
    this.bucketBits = context.bucketBits
    this.warnings = warnings
    this.resetLockTtlMs = resetLockTtlMs
  }

  static async open(redis: Redis, options: KeystoreOptions = {}): Promise<Keystore> {
    const namespace = parseNamespace(options.namespace ?? DEFAULT_NAMESPACE)
    if (options.bucketBits !== undefined && !(Number.isInteger(options.bucketBits) && options.bucketBits >= 1 && options.bucketBits <= 24)) {
      throw new Error(`bucketBits: expected an integer from 1 to 24, got ${options.bucketBits}`)
    }
    const resetLockTtlMs = options.resetLockTtlMs ?? 60_000
    if (!(resetLockTtlMs > 0)) throw new Error(`resetLockTtlMs: expected a positive number, got ${resetLockTtlMs}`)
    const shard = options.shard
    if (shard !== undefined && !(Number.isInteger(shard.bits) && shard.bits >= 0 && shard.bits <= (options.bucketBits ?? DEFAULT_BUCKET_BITS) &&
      Number.isInteger(shard.index) && shard.index >= 0 && shard.index < 2 ** shard.bits)) {
      throw new Error(`shard: expected index < 2^bits and bits at most the bucket bits, got ${JSON.stringify(shard)}`)
    }
    defineScripts(redis)
    const names = storeKeys(namespace, shard === undefined ? undefined : { index: shard.index, count: 2 ** shard.bits })
    if (options.create !== false) await redis.hsetnx(names.keystoreConfig, 'bucketBits', options.bucketBits ?? DEFAULT_BUCKET_BITS)
    if (await redis.hget(names.keystoreConfig, 'bucketBits') === null) throw new KeystoreMissingError(namespace)
    const ownPrefix = shard === undefined || shard.bits === 0 ? '' : shard.index.toString(2).padStart(shard.bits, '0')
    const { context } = await currentView({ redis, namespace, names, bucketBits: DEFAULT_BUCKET_BITS, ownPrefix })
    await deleteOrphanGenerations(context)
    const warnings = await checkListpackConfig(redis)
    const keystore = new Keystore(context, warnings, resetLockTtlMs, options.writerTtlMs)
    keystore.wantedBits = Math.max(context.bucketBits, options.bucketBits ?? 0)
    // a bare connection reaches one server; on a cluster, adds take the script, which the client routes
    keystore.native = !isCluster(redis)
    return keystore
  }

  /**
   * The bucket bits the keystore should have now: those asked for at open (when more than
   * it has), or more when its buckets average past TARGET_PER_BUCKET, so they stay
   * listpack-encoded. The leader re-buckets to them (beginRebucket).
   */
  async bitsWanted(): Promise<{ current: number; wanted: number; perBucket: number }> {
    const { generation, context } = await this.view()
    const total = await this.totalOf(generation)
    // a shard's keys fill only its own buckets
    const perBucket = total / 2 ** (context.bucketBits - context.ownPrefix.length)
    // twice the set's size: a set growing steadily then re-buckets about once per doubling
    const grown = perBucket > TARGET_PER_BUCKET ? bucketBitsFor(2 * total) : context.bucketBits
    return { current: context.bucketBits, wanted: Math.max(this.wantedBits, grown), perBucket }
  }

  /** Adds keys; returns those that were not in the set before, in input order. */
  async add(multihashes: readonly Uint8Array[], options: { once?: boolean } = {}): Promise<Uint8Array[]> {
    const added: Uint8Array[] = []
    for (let start = 0; start < multihashes.length; start += WRITE_CHUNK) {
      const chunk = multihashes.slice(start, start + WRITE_CHUNK)
      const outcomes = new Uint8Array(chunk.length)
      // written by chunk position, so the keys added come back in input order
      await this.untilWritten(chunk.map((_, position) => position), async ({ generation, context, forwardBits }, pending) => {
        const written = await addToGeneration(context, generation, pending.map((position) => chunk[position]), { once: options.once === true, count: true, forwardBits })
        pending.forEach((position, i) => { outcomes[position] = written[i] })
        return pending.filter((position) => outcomes[position] === REWRITE)
      })
      outcomes.forEach((outcome, position) => { if (outcome !== STORED_ALREADY) added.push(chunk[position]) })
    }
    return added
  }

  /**
   * Adds keys like add(), but returns only how many were new and the buckets that got
   * them: one packed script call per ~1024 keys, no per-key reply, the total counter kept
   * in the same calls. Takes an array, or keys already packed back to back (as the
   * intake parses them). With markDirty, those buckets are also marked dirty for the
   * scheduler in the same calls (what ScheduleStore.markDirty does, for this namespace),
   * so no key is ever stored without its mark.
   */
  async addCount(
    multihashes: readonly Uint8Array[] | PackedMultihashes, options: { once?: boolean; markDirty?: boolean } = {}
  ): Promise<{ added: number; prefixes: Set<Prefix> }> {
    const packed = Array.isArray(multihashes) ? packMultihashes(multihashes) : multihashes as PackedMultihashes
    let added = 0
    const prefixes = new Set<Prefix>()
    for (let start = 0; start < packedCount(packed); start += COUNT_CHUNK) {
      const chunk = packedSlice(packed, start, Math.min(packedCount(packed), start + COUNT_CHUNK))
      await this.untilWritten(chunk, async (view, pending) => {
        const outcome = await this.addCountChunk(view, pending, options.once === true, options.markDirty === true)
        added += outcome.added
        const bits = view.context.bucketBits
        for (const bucket of outcome.buckets) prefixes.add(bucket.toString(2).padStart(bits, '0'))
        return packMultihashes(outcome.rewrite)
      })
    }
    return { added, prefixes }
  }


  /**
   * Permanent adds go native (addCountNative); when its bare connection fails, the chunk
   * goes through the script over the ioredis client instead (which waits out a Redis
   * restart), and native waits a while before it is tried again. The native attempt may
   * have stored some keys already, which the script then finds stored: every bucket of the
   * chunk is marked, and the attempt's journal entry is left to a repair (its writer
   * retired), which recounts the total.
   */
  private async addCountChunk(
    view: GenerationView, chunk: PackedMultihashes, once: boolean, markDirty: boolean
  ): Promise<{ added: number; buckets: number[]; rewrite: Uint8Array[] }> {
    const { generation, context, forwardBits } = view
    // native HSETs forward nothing to a re-bucketing's copy, so while one runs adds take the script
    if (this.native && !once && forwardBits === undefined && Date.now() >= this.nativeAfter) {
      try {
        // nor are they refused: ones that land in a generation just re-bucketed are merged (Rebucketing)
        return { ...await addCountNative(context, generation, chunk, this.journal, { markDirty }), rewrite: [] }
      } catch (error) {
        this.nativeAfter = Date.now() + NATIVE_RETRY_MS
        this.nativeError = (error as Error).message
      }
      await this.journal.retire()
      const outcome = await addCountToGeneration(context, generation, chunk, { markDirty })
      await settle(context, generation, { added: 0, buckets: distinctBuckets(chunk, context.bucketBits), mark: markDirty })
      await this.repairUnsettledAdds()
      return outcome
    }
    return addCountToGeneration(context, generation, chunk, { once, markDirty, forwardBits })
  }

  /** Why the last native add fell back to the script, if one did. */
  get lastNativeError(): string | undefined {
    return this.nativeError
  }

  /** The bucket of a multihash: the first bucketBits bits of its kad key. */
  bucketOf(multihash: Uint8Array): number {
    return bucketOfMultihash(multihash, this.bucketBits)
  }

  /** The prefix (bucketBits bits) of a bucket, as dirty marks and regions name it. */
  bucketPrefix(bucket: number): Prefix {
    return bucket.toString(2).padStart(this.bucketBits, '0')
  }

  /** Removes keys; returns how many were present. */
  async remove(multihashes: readonly Uint8Array[]): Promise<number> {
    return this.removeWhere(multihashes, false)
  }

  /** Removes the keys that are still flagged once (a permanent add since clears the flag). */
  async removeOnce(multihashes: readonly Uint8Array[]): Promise<number> {
    return this.removeWhere(multihashes, true)
  }

  async lookup(multihash: Uint8Array): Promise<{ stored: boolean; once: boolean }> {
    const { generation, context } = await this.view()
    const [{ buckets: [bucket], fields: [field] }] = planCalls([multihash], context.bucketBits)
    const value = await this.context.redis.hget(bucketName(context, generation, bucket), field)
    return { stored: value !== null, once: value === '1' }
  }

  /** The exact number of keys whose kad key starts with prefix. */
  async count(prefix: Prefix = ''): Promise<number> {
    parsePrefix(prefix)
    const { generation, context } = await this.view()
    if (prefix.length > context.bucketBits) {
      let n = 0
      const fields = await this.context.redis.hkeysBuffer(bucketName(context, generation, bucketRange(prefix, context.bucketBits).first))
      for (const key of fields) if (keyHasPrefix(sha256(key), prefix)) n++
      return n
    }
    const { first, end } = bucketRange(prefix, context.bucketBits)
    let n = 0
    for (let from = first; from < end; from += PIPELINE_BUCKETS) {
      const pipeline = this.context.redis.pipeline()
      for (let bucket = from; bucket < Math.min(end, from + PIPELINE_BUCKETS); bucket++) pipeline.hlen(bucketName(context, generation, bucket))
      for (const length of await execPipeline(pipeline)) n += length as number
    }
    return n
  }

  /**
   * The maintained key counter: O(1), equal to count('') when no write is under way and
   * no add that died is waiting for repairUnsettledAdds().
   */
  async total(): Promise<number> {
    return this.totalOf((await this.view()).generation)
  }

  private async totalOf(generation: number): Promise<number> {
    return Math.max(0, Number(await this.context.redis.get(this.context.names.keystoreTotal(generation)) ?? 0))
  }

  /**
   * Recounts every bucket and sets the counter to it, in one step with no write between;
   * waits (up to 30 s) for a moment when no add is under way, as one counted by both the
   * recount and its own settling step would count twice.
   */
  async recount(): Promise<number> {
    const deadline = Date.now() + RECOUNT_WAIT_MS
    for (;;) {
      const { total, running } = await repairUnsettledAdds(this.context, { recount: true })
      if (total !== undefined) return total
      if (Date.now() > deadline) throw new Error(`recount: ${running} adds were still under way after ${RECOUNT_WAIT_MS / 1000} s`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  /**
   * Marks the buckets of adds whose process died between storing keys and marking them,
   * and recounts the total when one did (or a remove found it short) and no add is under
   * way. Cheap when there is nothing to do: coordinators call it at start and every few seconds.
   */
  async repairUnsettledAdds(): Promise<AddRepair> {
    return repairUnsettledAdds(this.context)
  }

  /**
   * Every key under prefix, in batches of at most batchSize, read a few buckets per
   * round trip with the next buckets already requested while a batch is consumed (see
   * streamKeys: it follows a re-bucketing or reset that switches generations meanwhile).
   */
  async *keys(prefix: Prefix, batchSize: number): AsyncIterable<StoredKey[]> {
    parsePrefix(prefix)
    if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new Error(`batchSize: expected a positive integer, got ${batchSize}`)
    const view = await this.view()
    yield* streamKeys(view, await this.totalOf(view.generation), prefix, batchSize)
  }

  /**
   * Up to n distinct stored multihashes, at random: HRANDFIELD on random buckets, so
   * keys in sparse buckets are a little more likely. Small sets are read whole.
   */
  async sample(n: number): Promise<Uint8Array[]> {
    if (!(Number.isInteger(n) && n >= 0)) throw new Error(`sample: expected a non-negative integer count, got ${n}`)
    const view = await this.view()
    const total = await this.totalOf(view.generation)
    if (n === 0 || total === 0) return []
    return sampleKeys(view, total, n)
  }

  /** Starts building a replacement set; only one reset runs at a time per namespace. */
  async beginReset(): Promise<KeystoreReset> {
    const { redis, names } = this.context
    const { generation: base, context } = await this.view()
    const generation = await runScript(redis, 'sweepKeystoreBeginReset',
      [names.keystoreResetLock, names.keystoreGenerationSeq, names.keystoreGenerations], [this.resetLockTtlMs]) as number
    if (generation === 0) {
      const rebucketing = await this.rebucketState()
      if (rebucketing !== undefined) {
        throw new RebucketingInProgressError(`${rebucketing.fromBits} → ${rebucketing.toBits} bits, ${rebucketing.phase === 'copying' ? `${Math.floor(100 * rebucketing.cursor / 2 ** rebucketing.fromBits)}% copied` : 'switched, draining'}`)
      }
      const ttl = await redis.pttl(names.keystoreResetLock)
      throw new Error(`a reset is already in progress (its lock expires in ${Math.max(0, Math.ceil(ttl / 1000))} s unless it keeps adding)`)
    }
    return new GenerationReset(context, generation, base, this.resetLockTtlMs)
  }

  /**
   * Takes up the reset of `generation`, begun here or by another process (the chunks of one
   * upload may reach different coordinators), and renews its lock to lockTtlMs, as its adds
   * will. Throws when the lock is no longer that reset's. Its commit() counts added/removed
   * from its own adds only.
   */
  async resumeReset(generation: number, lockTtlMs = this.resetLockTtlMs): Promise<KeystoreReset> {
    const { redis, names } = this.context
    const { generation: base, context } = await this.view()
    const renewed = await runScript(redis, 'sweepKeystoreRenewReset', [names.keystoreResetLock], [generation, lockTtlMs])
    if (renewed !== 1) throw new Error(`the reset of generation ${generation} no longer holds the reset lock (it expired, or was committed or aborted)`)
    return new GenerationReset(context, generation, base, lockTtlMs)
  }

  /** The keystores that re-bucket on their own: this one (a ShardedKeystore has one per shard). */
  get shards(): readonly Keystore[] {
    return [this]
  }

  /** The current generation's bucket bits (this.bucketBits is what they were at open). */
  async currentBits(): Promise<number> {
    return (await this.view()).context.bucketBits
  }

  /** The re-bucketing under way, if any (see Rebucketing). */
  rebucketState(): Promise<RebucketState | undefined> {
    return Rebucketing.state(this.context)
  }

  /**
   * Starts moving the keystore online to toBits bucket bits; undefined when a reset or
   * another re-bucketing holds the lock. The caller runs it: `(await begin…)?.run()`.
   */
  beginRebucket(toBits: number): Promise<Rebucketing | undefined> {
    return Rebucketing.begin(this.context, toBits, this.resetLockTtlMs)
  }

  /** Takes up a re-bucketing whose mover is gone (its lock expired); undefined if none is, or it is still moving. */
  resumeRebucket(): Promise<Rebucketing | undefined> {
    return Rebucketing.resume(this.context, this.resetLockTtlMs)
  }

  /** Where the keystore lives, for state kept beside it (the API's chunked reset uploads). */
  get location(): { readonly redis: Redis; readonly namespace: string } {
    return { redis: this.context.redis, namespace: this.context.namespace }
  }

  /** The current generation at its bits, read afresh by each call: a re-bucketing may switch both. */
  private view(): Promise<GenerationView> {
    return currentView(this.context)
  }

  private async removeWhere(multihashes: readonly Uint8Array[], onlyOnce: boolean): Promise<number> {
    let removed = 0
    for (let start = 0; start < multihashes.length; start += WRITE_CHUNK) {
      await this.untilWritten(multihashes.slice(start, start + WRITE_CHUNK), async ({ generation, context, forwardBits }, pending) => {
        const outcome = await removeFromGeneration(context, generation, pending, onlyOnce, forwardBits)
        removed += outcome.removed
        return outcome.rewrite
      })
    }
    return removed
  }

  /**
   * Writes to the current generation until nothing is left: what a re-bucketing's switch
   * refused, having reached the old generation, goes again to the new one. One switch per
   * write is the most a re-bucketing can cause; more in a row is a fault.
   */
  private async untilWritten<T extends { length: number } | PackedMultihashes>(
    items: T, write: (view: GenerationView, pending: T) => Promise<T>
  ): Promise<void> {
    const size = (pending: T) => ('offsets' in pending ? packedCount(pending) : pending.length)
    for (let attempt = 1; size(items) > 0; attempt++) {
      if (attempt > MAX_WRITE_ATTEMPTS) {
        throw new Error(`${size(items)} keys were refused by ${MAX_WRITE_ATTEMPTS} generations in a row (each re-bucketed as the write reached it); the rest was written, try these again`)
      }
      items = await write(await this.view(), items)
    }
  }
}
