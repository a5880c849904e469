import type { Redis } from 'ioredis'
import { keyHasPrefix, parsePrefix, type Prefix } from '@sweep/keyspace'
import type { ProvideKey } from '@sweep/sweep'
import {
  addToGeneration, bucketName, currentGeneration, deleteOrphanGenerations, planCalls, removeFromGeneration, sha256,
  STORED_ALREADY, WRITE_CHUNK, type KeystoreContext
} from './keystore-generations.ts'
import { bucketOfMultihash } from './bucket-hash.ts'
import { GenerationReset, type KeystoreReset } from './keystore-reset.ts'
import { checkListpackConfig } from './listpack.ts'
import { bucketBitsFor, DEFAULT_BUCKET_BITS, KeystoreMissingError, TARGET_PER_BUCKET } from './keystore-config.ts'
import { bucketRange, DEFAULT_NAMESPACE, parseNamespace, storeKeys } from './names.ts'
import {
  addCountNative, addCountToGeneration, distinctBuckets, packedCount, packedSlice, packMultihashes, settle, type PackedMultihashes
} from './packed-add.ts'
import { defineScripts, execPipeline, runScript } from './scripts.ts'
import { AddJournal, repairUnsettledAdds, type AddRepair } from './unsettled-adds.ts'

export type { PackedMultihashes } from './packed-add.ts'
export type { AddRepair } from './unsettled-adds.ts'

export interface StoredKey extends ProvideKey {
  /** Provide once, don't reprovide. */
  readonly once: boolean
}

export interface KeystoreOptions {
  namespace?: string
  /** Buckets are the first bucketBits bits of the kad key (1 to 24, default 16); fixed when the keystore is created. */
  bucketBits?: number
  /**
   * Create the keystore when the namespace has none (default true). A worker opens with
   * false: were it to create one first, with the default bucketBits, the coordinator could
   * not open it with the bucketBits it was given.
   */
  create?: boolean
  /** A reset that adds nothing for this long loses its lock (default 60 s). */
  resetLockTtlMs?: number
  /**
   * A native add of a process silent this long is taken for dead: its buckets are marked
   * and the total recounted (default 5 s; see AddJournal).
   */
  writerTtlMs?: number
}

const MAX_BUCKETS_PER_READ = 4096
/**
 * Multihashes per pipeline in addCount: the more per call, the more share a bucket, and
 * one HSET carries them all (Redis' cost is mostly per command). 128k is about 5 MB.
 */
const COUNT_CHUNK = 131_072
/** After a native add failed, the script path is used this long before native is tried again. */
const NATIVE_RETRY_MS = 10_000
/** Commands per pipeline when a call touches many buckets. */
const PIPELINE_BUCKETS = 4096
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
    defineScripts(redis)
    const names = storeKeys(namespace)
    if (options.create !== false) await redis.hsetnx(names.keystoreConfig, 'bucketBits', options.bucketBits ?? DEFAULT_BUCKET_BITS)
    const stored = await redis.hget(names.keystoreConfig, 'bucketBits')
    if (stored === null) throw new KeystoreMissingError(namespace)
    const bucketBits = Number(stored)
    if (options.bucketBits !== undefined && options.bucketBits !== bucketBits) {
      throw new Error(`bucketBits: the keystore in namespace "${namespace}" was created with bucketBits ${bucketBits}; it cannot be opened with ${options.bucketBits} (omit the option to use the stored value, or use a new namespace)`)
    }
    const context: KeystoreContext = { redis, namespace, names, bucketBits }
    await deleteOrphanGenerations(context)
    const warnings = await checkListpackConfig(redis)
    const keystore = new Keystore(context, warnings, resetLockTtlMs, options.writerTtlMs)
    const perBucket = await keystore.total() / 2 ** bucketBits
    if (perBucket > TARGET_PER_BUCKET) {
      warnings.push(`the keystore averages ${Math.round(perBucket)} keys per bucket (bucketBits ${bucketBits}); past hash-max-listpack-entries (1024) a bucket turns into a hashtable and costs about 3× the memory per key. For a set this large, import into a new namespace created with bucketBits ${bucketBitsFor(await keystore.total())} (sweep coordinator --bucket-bits).`)
    }
    return keystore
  }

  /** Adds keys; returns those that were not in the set before, in input order. */
  async add(multihashes: readonly Uint8Array[], options: { once?: boolean } = {}): Promise<Uint8Array[]> {
    const added: Uint8Array[] = []
    for (let start = 0; start < multihashes.length; start += WRITE_CHUNK) {
      const chunk = multihashes.slice(start, start + WRITE_CHUNK)
      const generation = await this.generation()
      const outcomes = await addToGeneration(this.context, generation, chunk, { once: options.once === true, count: true })
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
  ): Promise<{ added: number; buckets: Set<number> }> {
    const packed = Array.isArray(multihashes) ? packMultihashes(multihashes) : multihashes as PackedMultihashes
    let added = 0
    const buckets = new Set<number>()
    for (let start = 0; start < packedCount(packed); start += COUNT_CHUNK) {
      const chunk = packedSlice(packed, start, Math.min(packedCount(packed), start + COUNT_CHUNK))
      const outcome = await this.addCountChunk(await this.generation(), chunk, options.once === true, options.markDirty === true)
      added += outcome.added
      for (const bucket of outcome.buckets) buckets.add(bucket)
    }
    return { added, buckets }
  }


  /**
   * Permanent adds go native (addCountNative); when its bare connection fails, the chunk
   * goes through the script over the ioredis client instead (which waits out a Redis
   * restart), and native waits a while before it is tried again. The native attempt may
   * have stored some keys already, which the script then finds stored: every bucket of the
   * chunk is marked, and the attempt's journal entry is left to a repair (its writer
   * retired), which recounts the total.
   */
  private async addCountChunk(generation: number, chunk: PackedMultihashes, once: boolean, markDirty: boolean): Promise<{ added: number; buckets: number[] }> {
    if (!once && Date.now() >= this.nativeAfter) {
      try {
        return await addCountNative(this.context, generation, chunk, this.journal, { markDirty })
      } catch (error) {
        this.nativeAfter = Date.now() + NATIVE_RETRY_MS
        this.nativeError = (error as Error).message
      }
      await this.journal.retire()
      const outcome = await addCountToGeneration(this.context, generation, chunk, { markDirty })
      await settle(this.context, generation, { added: 0, buckets: distinctBuckets(chunk, this.bucketBits), mark: markDirty })
      await this.repairUnsettledAdds()
      return outcome
    }
    return addCountToGeneration(this.context, generation, chunk, { once, markDirty })
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
    const [{ buckets: [bucket], fields: [field] }] = planCalls([multihash], this.bucketBits)
    const value = await this.context.redis.hget(this.bucket(await this.generation(), bucket), field)
    return { stored: value !== null, once: value === '1' }
  }

  /** The exact number of keys whose kad key starts with prefix. */
  async count(prefix: Prefix = ''): Promise<number> {
    parsePrefix(prefix)
    const generation = await this.generation()
    if (prefix.length > this.bucketBits) {
      let n = 0
      for (const key of await this.readBucketFields(generation, bucketRange(prefix, this.bucketBits).first)) if (keyHasPrefix(sha256(key), prefix)) n++
      return n
    }
    const { first, end } = bucketRange(prefix, this.bucketBits)
    let n = 0
    for (let from = first; from < end; from += PIPELINE_BUCKETS) {
      const pipeline = this.context.redis.pipeline()
      for (let bucket = from; bucket < Math.min(end, from + PIPELINE_BUCKETS); bucket++) pipeline.hlen(this.bucket(generation, bucket))
      for (const length of await execPipeline(pipeline)) n += length as number
    }
    return n
  }

  /**
   * The maintained key counter: O(1), equal to count('') when no write is under way and
   * no add that died is waiting for repairUnsettledAdds().
   */
  async total(): Promise<number> {
    return Math.max(0, Number(await this.context.redis.get(this.context.names.keystoreTotal(await this.generation())) ?? 0))
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
   * round trip with the next buckets already requested while a batch is consumed.
   */
  async *keys(prefix: Prefix, batchSize: number): AsyncIterable<StoredKey[]> {
    parsePrefix(prefix)
    if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new Error(`batchSize: expected a positive integer, got ${batchSize}`)
    const generation = await this.generation()
    const { first, end } = bucketRange(prefix, this.bucketBits)
    const filter = prefix.length > this.bucketBits
    const perBucket = Math.max(1, await this.total() / 2 ** this.bucketBits)
    // Buckets per pipeline: about batchSize keys' worth. A sparse keystore (a region
    // spanning thousands of near-empty buckets) reads up to 4096 per round trip: at 256
    // a burst job for one new CID on a 3-bit region spent ~0.5 s in 32 round trips.
    const step = Math.min(MAX_BUCKETS_PER_READ, Math.max(1, Math.ceil(batchSize / perBucket)))
    const read = (from: number) => {
      const pending = this.readBuckets(generation, from, Math.min(end, from + step))
      pending.catch(() => {}) // a consumer that stops early never awaits the prefetch
      return pending
    }
    let next = read(first)
    let batch: StoredKey[] = []
    for (let from = first; from < end; from += step) {
      const buckets = await next
      if (from + step < end) next = read(from + step)
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
   * Up to n distinct stored multihashes, at random: HRANDFIELD on random buckets, so
   * keys in sparse buckets are a little more likely. Small sets are read whole.
   */
  async sample(n: number): Promise<Uint8Array[]> {
    if (!(Number.isInteger(n) && n >= 0)) throw new Error(`sample: expected a non-negative integer count, got ${n}`)
    const total = await this.total()
    if (n === 0 || total === 0) return []
    const picked = new Map<string, Buffer>()
    if (total <= 4 * n || total <= 2 ** this.bucketBits) {
      for await (const batch of this.keys('', 10_000)) for (const { multihash } of batch) picked.set(Buffer.from(multihash).toString('hex'), Buffer.from(multihash))
      return shuffle([...picked.values()]).slice(0, n)
    }
    const generation = await this.generation()
    const buckets = 2 ** this.bucketBits
    for (let round = 0; round < 20 && picked.size < n; round++) {
      const pipeline = this.context.redis.pipeline()
      const want = Math.min(PIPELINE_BUCKETS, 2 * (n - picked.size))
      for (let i = 0; i < want; i++) pipeline.hrandfieldBuffer(this.bucket(generation, Math.floor(Math.random() * buckets)))
      for (const field of await execPipeline(pipeline)) {
        if (field instanceof Buffer && picked.size < n) picked.set(field.toString('hex'), field)
      }
    }
    return [...picked.values()]
  }

  /** Starts building a replacement set; only one reset runs at a time per namespace. */
  async beginReset(): Promise<KeystoreReset> {
    const { redis, names } = this.context
    const base = await this.generation()
    const generation = await runScript(redis, 'sweepKeystoreBeginReset',
      [names.keystoreResetLock, names.keystoreGenerationSeq, names.keystoreGenerations], [this.resetLockTtlMs]) as number
    if (generation === 0) {
      const ttl = await redis.pttl(names.keystoreResetLock)
      throw new Error(`a reset is already in progress (its lock expires in ${Math.max(0, Math.ceil(ttl / 1000))} s unless it keeps adding)`)
    }
    return new GenerationReset(this.context, generation, base, this.resetLockTtlMs)
  }

  /**
   * Takes up the reset of `generation`, begun here or by another process (the chunks of one
   * upload may reach different coordinators), and renews its lock to lockTtlMs, as its adds
   * will. Throws when the lock is no longer that reset's. Its commit() counts added/removed
   * from its own adds only.
   */
  async resumeReset(generation: number, lockTtlMs = this.resetLockTtlMs): Promise<KeystoreReset> {
    const { redis, names } = this.context
    const base = await this.generation()
    const renewed = await runScript(redis, 'sweepKeystoreRenewReset', [names.keystoreResetLock], [generation, lockTtlMs])
    if (renewed !== 1) throw new Error(`the reset of generation ${generation} no longer holds the reset lock (it expired, or was committed or aborted)`)
    return new GenerationReset(this.context, generation, base, lockTtlMs)
  }

  /** Where the keystore lives, for state kept beside it (the API's chunked reset uploads). */
  get location(): { readonly redis: Redis; readonly namespace: string } {
    return { redis: this.context.redis, namespace: this.context.namespace }
  }

  private generation(): Promise<number> {
    return currentGeneration(this.context)
  }

  private bucket(generation: number, bucket: number): string {
    return bucketName(this.context, generation, bucket)
  }

  private async removeWhere(multihashes: readonly Uint8Array[], onlyOnce: boolean): Promise<number> {
    let removed = 0
    for (let start = 0; start < multihashes.length; start += WRITE_CHUNK) {
      const generation = await this.generation()
      removed += await removeFromGeneration(this.context, generation, multihashes.slice(start, start + WRITE_CHUNK), onlyOnce)
    }
    return removed
  }

  /** Each bucket as its flat [field, value, field, value, ...] reply. */
  private async readBuckets(generation: number, from: number, end: number): Promise<Buffer[][]> {
    const pipeline = this.context.redis.pipeline()
    for (let bucket = from; bucket < end; bucket++) pipeline.callBuffer('HGETALL', this.bucket(generation, bucket))
    return await execPipeline(pipeline) as Buffer[][]
  }

  private async readBucketFields(generation: number, bucket: number): Promise<Buffer[]> {
    return this.context.redis.hkeysBuffer(this.bucket(generation, bucket))
  }
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]]
  }
  return items
}
