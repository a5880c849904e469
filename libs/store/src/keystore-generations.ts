import { hash } from 'node:crypto'
import type { Redis } from 'ioredis'
import { bucketOfMultihash } from './bucket-hash.ts'
import { bucketKey, type StoreKeys } from './names.ts'
import { execPipeline, queueScript, runScript } from './scripts.ts'

/** What the keystore and its resets share about one namespace's keystore. */
export interface KeystoreContext {
  readonly redis: Redis
  readonly namespace: string
  readonly names: StoreKeys
  readonly bucketBits: number
}

export function bucketName(context: KeystoreContext, generation: number, bucket: number): string {
  return bucketKey(context.namespace, generation, bucket, context.bucketBits)
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

/**
 * Adds multihashes to a generation's buckets, all script calls in one pipeline;
 * returns one outcome per multihash. With compareWith, new members are checked
 * against that generation's buckets too. With count, each call adds its new members to
 * the generation's total in the same step.
 */
export async function addToGeneration(
  context: KeystoreContext, generation: number, multihashes: readonly Uint8Array[],
  options: { once?: boolean; compareWith?: number; count?: boolean } = {}
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
    queueScript(pipeline, 'sweepKeystoreAdd', keys,
      [options.once ? '1' : '', call.buckets.length, compare === undefined ? '' : '1', ...call.counts, ...call.fields])
  }
  const replies = await execPipeline(pipeline)
  calls.forEach((call, i) => {
    const reply = replies[i] as string
    for (let j = 0; j < call.positions.length; j++) outcomes[call.positions[j]] = reply.charCodeAt(j) - 48
  })
  return outcomes
}

/**
 * Deletes multihashes (with onlyOnce, only those still flagged once) and lowers the
 * generation's total in the same steps; returns how many went.
 */
export async function removeFromGeneration(
  context: KeystoreContext, generation: number, multihashes: readonly Uint8Array[], onlyOnce: boolean
): Promise<number> {
  const calls = planCalls(multihashes, context.bucketBits)
  if (calls.length === 0) return 0
  const pipeline = context.redis.pipeline()
  for (const call of calls) {
    const keys = call.buckets.map((bucket) => bucketName(context, generation, bucket))
    keys.push(context.names.keystoreTotal(generation), context.names.keystoreRecountNeeded)
    queueScript(pipeline, 'sweepKeystoreRemove', keys,
      [onlyOnce ? '1' : '', call.buckets.length, ...call.counts, ...call.fields])
  }
  let removed = 0
  for (const n of await execPipeline(pipeline)) removed += n as number
  return removed
}

export async function currentGeneration(context: KeystoreContext): Promise<number> {
  return Number(await context.redis.get(context.names.keystoreGeneration) ?? 0)
}

const DELETE_CHUNK = 2048

/**
 * Deletes every bucket of a generation. Bucket names are known, so this UNLINKs them
 * directly rather than SCANning the whole keyspace for them.
 */
export async function deleteGeneration(context: KeystoreContext, generation: number): Promise<void> {
  const buckets = 2 ** context.bucketBits
  for (let first = 0; first < buckets; first += DELETE_CHUNK) {
    const pipeline = context.redis.pipeline()
    for (let bucket = first; bucket < Math.min(buckets, first + DELETE_CHUNK); bucket++) pipeline.unlink(bucketName(context, generation, bucket))
    await execPipeline(pipeline)
  }
  await execPipeline(context.redis.pipeline()
    .del(context.names.keystoreTotal(generation))
    .srem(context.names.keystoreGenerations, String(generation)))
}

/**
 * Deletes generations that are neither current nor being built by a live reset: what a
 * reset leaves when its process dies before commit, or an old generation whose
 * background cleanup was cut short. Returns the generations deleted.
 */
export async function deleteOrphanGenerations(context: KeystoreContext): Promise<number[]> {
  const names = context.names
  const [current, resetting, tracked] = await runScript(context.redis, 'sweepKeystoreGenerations',
    [names.keystoreGeneration, names.keystoreResetLock, names.keystoreGenerations], []) as [string, string, string[]]
  const orphans = tracked.filter((generation) => generation !== current && generation !== resetting).map(Number)
  for (const generation of orphans) await deleteGeneration(context, generation)
  return orphans
}
