import { createHash } from 'node:crypto'
import type { Redis } from 'ioredis'
import { bucketKey, bucketOf, type StoreKeys } from './names.ts'
import { execPipeline, runScript } from './scripts.ts'

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
  return createHash('sha256').update(bytes).digest()
}

export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

export interface BucketGroup {
  readonly fields: Buffer[]
  /** Index of each field in the caller's array. */
  readonly positions: number[]
}

/** The multihashes grouped by bucket, so each bucket gets one command. */
export function groupByBucket(multihashes: readonly Uint8Array[], bucketBits: number): Map<number, BucketGroup> {
  const groups = new Map<number, BucketGroup>()
  multihashes.forEach((multihash, position) => {
    if (!(multihash instanceof Uint8Array) || multihash.length === 0) {
      throw new Error(`multihashes[${position}]: expected non-empty bytes, got ${multihash instanceof Uint8Array ? 'empty bytes' : typeof multihash}`)
    }
    const bucket = bucketOf(sha256(multihash), bucketBits)
    let group = groups.get(bucket)
    if (group === undefined) groups.set(bucket, group = { fields: [], positions: [] })
    group.fields.push(asBuffer(multihash))
    group.positions.push(position)
  })
  return groups
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
