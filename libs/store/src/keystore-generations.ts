import { hash } from 'node:crypto'
import type { Redis } from 'ioredis'
import { bucketOfMultihash, childOfMultihash } from './bucket-hash.ts'
import type { Prefix } from '@sweep/keyspace'
import { bucketKeyIn, bucketRange, type StoreKeys } from './names.ts'
import { execPipeline, execWrites, queueScript, REBUCKETED, runScript } from './scripts.ts'

/** What the keystore and its resets share about one namespace's keystore. */
export interface KeystoreContext {
  readonly redis: Redis
  readonly namespace: string
  readonly names: StoreKeys
  readonly bucketBits: number
  /**
   * The kad-key prefix every key here has: '' for a whole keystore, a shard's prefix in a
   * sharded one. Walks over all buckets (copies, deletes, samples) take only its buckets.
   */
  readonly ownPrefix: Prefix
}

/** The buckets [first, end), at the context's bits, that can hold keys of this keystore (or shard). */
export function ownBuckets(context: KeystoreContext): { first: number; end: number } {
  return bucketRange(context.ownPrefix, context.bucketBits)
}

export function bucketName(context: KeystoreContext, generation: number, bucket: number): string {
  return bucketKeyIn(context.names.keystoreBuckets, generation, bucket, context.bucketBits)
}

export function sha256(bytes: Uint8Array): Buffer {
  // the one-shot form: about a third cheaper than createHash for 34-byte inputs
  return hash('sha256', bytes, 'buffer')
}

export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/**
 * One script call's share of a write: members grouped by bucket, several buckets per
 * call, members in bucket order.
 */
export interface BucketCall {
  readonly buckets: number[]
  /** Members of each bucket, in the order of buckets. */
  readonly counts: number[]
  readonly fields: Buffer[]
  /** Index of each field in the caller's array. */
  readonly positions: number[]
}

/**
 * Members per script call: enough to amortise the call, few enough that one call
 * holds Redis for only a few milliseconds.
 */
export const CALL_MEMBERS = 1024

/** Commands per pipeline when a call touches many buckets. */
export const PIPELINE_BUCKETS = 4096

/** Multihashes per pipeline in add and remove, so a huge call never builds one giant request. */
export const WRITE_CHUNK = 20_000

/** Groups multihashes by bucket and packs the groups into script calls of at most maxMembers. */
export function planCalls(multihashes: readonly Uint8Array[], bucketBits: number, maxMembers = CALL_MEMBERS): BucketCall[] {
  const groups = new Map<number, number[]>()
  multihashes.forEach((multihash, position) => {
    if (!(multihash instanceof Uint8Array) || multihash.length === 0) {
      throw new Error(`multihashes[${position}]: expected non-empty bytes, got ${multihash instanceof Uint8Array ? 'empty bytes' : typeof multihash}`)
    }
    const bucket = bucketOfMultihash(multihash, bucketBits)
    const group = groups.get(bucket)
    if (group === undefined) groups.set(bucket, [position])
    else group.push(position)
  })
  const calls: BucketCall[] = []
  let call: BucketCall = { buckets: [], counts: [], fields: [], positions: [] }
  for (const [bucket, positions] of groups) {
    for (let from = 0; from < positions.length;) {
      if (call.fields.length >= maxMembers) {
        calls.push(call)
        call = { buckets: [], counts: [], fields: [], positions: [] }
      }
      const take = positions.slice(from, from + maxMembers - call.fields.length)
      call.buckets.push(bucket)
      call.counts.push(take.length)
      for (const position of take) {
        call.fields.push(asBuffer(multihashes[position]))
        call.positions.push(position)
      }
      from += take.length
    }
  }
  if (call.fields.length > 0) calls.push(call)
  return calls
}

/** What an add did to each multihash, by input position. */
export const STORED_ALREADY = 0
export const ADDED = 1
/** Added to the generation being built, and present in the one it replaces. */
export const ADDED_KEPT = 2
/** Not written: the generation was re-bucketed meanwhile, so the key goes to the current one. */
export const REWRITE = 3

/**
 * Adds multihashes to a generation's buckets, all script calls in one pipeline;
 * returns one outcome per multihash. With compareWith, new members are checked
 * against that generation's buckets too. With count, each call adds its new members to
 * the generation's total in the same step.
 */
export async function addToGeneration(
  context: KeystoreContext, generation: number, multihashes: readonly Uint8Array[],
  options: { once?: boolean; compareWith?: number; count?: boolean; forwardBits?: number } = {}
): Promise<Uint8Array> {
  const outcomes = new Uint8Array(multihashes.length)
  const calls = planCalls(multihashes, context.bucketBits)
  if (calls.length === 0) return outcomes
  const compare = options.compareWith
  const pipeline = context.redis.pipeline()
  for (const call of calls) {
    const keys = call.buckets.map((bucket) => bucketName(context, generation, bucket))
    if (compare !== undefined) for (const bucket of call.buckets) keys.push(bucketName(context, compare, bucket))
    if (options.count) keys.push(context.names.keystoreTotal(generation))
    const args = [options.once ? '1' : '', call.buckets.length, compare === undefined ? '' : '1', ...call.counts, ...call.fields]
    if (options.forwardBits !== undefined) args.push(childrenOf(call.fields, context.bucketBits, options.forwardBits))
    queueScript(pipeline, 'sweepKeystoreAdd', keys, args)
  }
  const replies = await execWrites(pipeline, { redis: context.redis, key: context.names.keystoreConfig })
  calls.forEach((call, i) => {
    const reply = replies[i]
    if (reply === REBUCKETED) for (const position of call.positions) outcomes[position] = REWRITE
    else for (let j = 0; j < call.positions.length; j++) outcomes[call.positions[j]] = (reply as string).charCodeAt(j) - 48
  })
  return outcomes
}

/**
 * Deletes multihashes (with onlyOnce, only those still flagged once) and lowers the
 * generation's total in the same steps; returns how many went, and those to remove from
 * the current generation again, this one having been re-bucketed meanwhile.
 */
export async function removeFromGeneration(
  context: KeystoreContext, generation: number, multihashes: readonly Uint8Array[], onlyOnce: boolean, forwardBits?: number
): Promise<{ removed: number; rewrite: Uint8Array[] }> {
  const calls = planCalls(multihashes, context.bucketBits)
  const rewrite: Uint8Array[] = []
  if (calls.length === 0) return { removed: 0, rewrite }
  const pipeline = context.redis.pipeline()
  for (const call of calls) {
    const keys = call.buckets.map((bucket) => bucketName(context, generation, bucket))
    keys.push(context.names.keystoreTotal(generation), context.names.keystoreRecountNeeded)
    const args = [onlyOnce ? '1' : '', call.buckets.length, ...call.counts, ...call.fields]
    if (forwardBits !== undefined) args.push(childrenOf(call.fields, context.bucketBits, forwardBits))
    queueScript(pipeline, 'sweepKeystoreRemove', keys, args)
  }
  let removed = 0
  const replies = await execWrites(pipeline, { redis: context.redis, key: context.names.keystoreConfig })
  calls.forEach((call, i) => {
    if (replies[i] === REBUCKETED) for (const position of call.positions) rewrite.push(multihashes[position])
    else removed += replies[i] as number
  })
  return { removed, rewrite }
}

/** A generation, and the keystore context at that generation's bucket bits. */
export interface GenerationView {
  readonly generation: number
  readonly context: KeystoreContext
  /** The bits of the re-bucketing copying this generation: writes tell each key's child at these bits. */
  readonly forwardBits?: number
}

/** The current generation and its bits, read in one step (a re-bucketing switches both at once). */
export async function currentView(context: KeystoreContext): Promise<GenerationView> {
  return viewOf(context, await runScript(context.redis, 'sweepKeystoreCurrent', currentKeys(context.names), []) as [number, number, number])
}

/** The keys sweepKeystoreCurrent reads. */
function currentKeys(names: StoreKeys): string[] {
  return [names.keystoreGeneration, names.keystoreConfig, names.keystoreRebucket]
}

function viewOf(context: KeystoreContext, [generation, bits, forwardBits]: [number, number, number]): GenerationView {
  return forwardBits > 0 ? { generation, context: withBits(context, bits), forwardBits } : { generation, context: withBits(context, bits) }
}

/**
 * Buckets [from, end) of a view's generation, each as its flat [field, value, …] reply, in
 * one round trip that also reads which generation is current when the reads begin: a caller
 * whose view is no longer current learns it before that generation can be deleted.
 */
export async function readBuckets(view: GenerationView, from: number, end: number): Promise<{ current: GenerationView; buckets: Buffer[][] }> {
  const { context, generation } = view
  const pipeline = context.redis.pipeline()
  queueScript(pipeline, 'sweepKeystoreCurrent', currentKeys(context.names), [])
  for (let bucket = from; bucket < end; bucket++) pipeline.callBuffer('HGETALL', bucketName(context, generation, bucket))
  const [current, ...buckets] = await execPipeline(pipeline) as [[number, number, number], ...Buffer[][]]
  return { current: viewOf(context, current), buckets }
}

/**
 * One byte per multihash: its child bucket under a re-bucketing to forwardBits, as the
 * write scripts take it (see FORWARD in rebucket-scripts.ts).
 */
export function childrenOf(multihashes: Iterable<Uint8Array>, bucketBits: number, forwardBits: number): Buffer {
  const bytes: number[] = []
  for (const multihash of multihashes) bytes.push(childOfMultihash(multihash, bucketBits, forwardBits))
  return Buffer.from(bytes)
}

/** The bits of a generation: its own field when a re-bucketing wrote one, else the keystore's. */
export async function generationBits(context: KeystoreContext, generation: number): Promise<number> {
  const [own, keystore] = await context.redis.hmget(context.names.keystoreConfig, `bits:${generation}`, 'bucketBits')
  return Number(own ?? keystore ?? context.bucketBits)
}

/** One context object per bits, so what is cached per context (bucket names) stays cached. */
const contextsByBits = new WeakMap<KeystoreContext, Map<number, KeystoreContext>>()

export function withBits(context: KeystoreContext, bucketBits: number): KeystoreContext {
  if (context.bucketBits === bucketBits) return context
  let byBits = contextsByBits.get(context)
  if (byBits === undefined) contextsByBits.set(context, byBits = new Map())
  let derived = byBits.get(bucketBits)
  if (derived === undefined) byBits.set(bucketBits, derived = { ...context, bucketBits })
  return derived
}

const DELETE_CHUNK = 2048

/**
 * Deletes every bucket of a generation. Bucket names are known, so this UNLINKs them
 * directly rather than SCANning the whole keyspace for them.
 */
export async function deleteGeneration(context: KeystoreContext, generation: number): Promise<void> {
  const atBits = withBits(context, await generationBits(context, generation))
  const { first: own, end } = ownBuckets(atBits)
  for (let first = own; first < end; first += DELETE_CHUNK) {
    const pipeline = context.redis.pipeline()
    for (let bucket = first; bucket < Math.min(end, first + DELETE_CHUNK); bucket++) pipeline.unlink(bucketName(atBits, generation, bucket))
    await execPipeline(pipeline)
  }
  await execPipeline(context.redis.pipeline()
    .del(context.names.keystoreTotal(generation))
    .srem(context.names.keystoreGenerations, String(generation)))
}

/**
 * Deletes generations that are neither current nor being built by a live reset or a
 * re-bucketing: what a reset leaves when its process dies before commit, or an old generation whose
 * background cleanup was cut short. Returns the generations deleted.
 */
export async function deleteOrphanGenerations(context: KeystoreContext): Promise<number[]> {
  const names = context.names
  const [current, resetting, tracked, rebucketFrom, rebucketTo] = await runScript(context.redis, 'sweepKeystoreGenerations',
    [names.keystoreGeneration, names.keystoreResetLock, names.keystoreGenerations, names.keystoreRebucket], []) as [string, string, string[], string, string]
  // a re-bucketing's two generations stay while its state does, its mover gone or not: the next leader resumes it
  const kept = new Set([current, resetting, rebucketFrom, rebucketTo])
  const orphans = tracked.filter((generation) => !kept.has(generation)).map(Number)
  for (const generation of orphans) await deleteGeneration(context, generation)
  return orphans
}
