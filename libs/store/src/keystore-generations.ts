import { hash } from 'node:crypto'
import type { Redis } from 'ioredis'
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

/** SHA-256's round constants. */
const K = Int32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
])
const W = new Int32Array(64)

/**
 * The first 32 bits of SHA-256(bytes), which is all a bucket needs. A message of up to 55
 * bytes (a sha2-256 multihash is 34) is one padded block, hashed here in plain JS: about
 * 3× faster than crypto.hash, whose cost for so small an input is mostly the call into C++.
 * Longer messages go to crypto.hash. Checked against it in the tests.
 */
export function sha256Head(bytes: Uint8Array): number {
  const n = bytes.length
  if (n > 55) return hash('sha256', bytes, 'buffer').readUInt32BE(0)
  const w = W
  let i = 0
  for (; i + 4 <= n; i += 4) w[i >> 2] = (bytes[i] << 24) | (bytes[i + 1] << 16) | (bytes[i + 2] << 8) | bytes[i + 3]
  let tail = 0
  let shift = 24
  for (; i < n; i++, shift -= 8) tail |= bytes[i] << shift
  let j = n >> 2
  w[j++] = tail | (0x80 << shift)
  for (; j < 15; j++) w[j] = 0
  w[15] = n * 8
  for (let t = 16; t < 64; t++) {
    const a = w[t - 15]
    const b = w[t - 2]
    const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3)
    const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10)
    w[t] = (w[t - 16] + s0 + w[t - 7] + s1) | 0
  }
  let a = 0x6a09e667 | 0
  let b = 0xbb67ae85 | 0
  let c = 0x3c6ef372 | 0
  let d = 0xa54ff53a | 0
  let e = 0x510e527f | 0
  let f = 0x9b05688c | 0
  let g = 0x1f83d9ab | 0
  let h = 0x5be0cd19 | 0
  for (let t = 0; t < 64; t++) {
    const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))
    const t1 = (h + s1 + ((e & f) ^ (~e & g)) + K[t] + w[t]) | 0
    const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))
    const t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0
    h = g
    g = f
    f = e
    e = (d + t1) | 0
    d = c
    c = b
    b = a
    a = (t1 + t2) | 0
  }
  return (a + 0x6a09e667) >>> 0
}

/** The bucket of a multihash: the first bucketBits bits of its kad key. */
export function bucketOfMultihash(multihash: Uint8Array, bucketBits: number): number {
  return sha256Head(multihash) >>> (32 - bucketBits)
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
 * against that generation's buckets too.
 */
export async function addToGeneration(
  context: KeystoreContext, generation: number, multihashes: readonly Uint8Array[],
  options: { once?: boolean; compareWith?: number } = {}
): Promise<Uint8Array> {
  const outcomes = new Uint8Array(multihashes.length)
  const calls = planCalls(multihashes, context.bucketBits)
  if (calls.length === 0) return outcomes
  const compare = options.compareWith
  const pipeline = context.redis.pipeline()
  for (const call of calls) {
    const keys = call.buckets.map((bucket) => bucketName(context, generation, bucket))
    if (compare !== undefined) for (const bucket of call.buckets) keys.push(bucketName(context, compare, bucket))
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
 * One call of sweepKeystoreAddCount: its buckets, and their members packed into one
 * argument (per bucket a 2-byte count, per member a 2-byte length and the bytes). One
 * argument instead of one per member: each argument costs the client an encoding step
 * and Redis an object and a Lua string, which was most of an add.
 */
export interface PackedCall {
  readonly buckets: number[]
  readonly members: Buffer
}

/** Multihashes by bucket (in bucket order), packed into calls of at most maxMembers. */
export function planPackedCalls(multihashes: readonly Uint8Array[], bucketBits: number, maxMembers = CALL_MEMBERS): PackedCall[] {
  const n = multihashes.length
  if (n > 2 ** 24) throw new Error(`planPackedCalls: at most ${2 ** 24} multihashes per call, got ${n}`)
  // bucket * 2^24 + position: one numeric sort groups by bucket and keeps input order within one
  const order = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    const multihash = multihashes[i]
    if (!(multihash instanceof Uint8Array) || multihash.length === 0 || multihash.length > 0xffff) {
      throw new Error(`multihashes[${i}]: expected 1 to 65535 bytes, got ${multihash instanceof Uint8Array ? `${multihash.length} bytes` : typeof multihash}`)
    }
    order[i] = bucketOfMultihash(multihash, bucketBits) * 2 ** 24 + i
  }
  order.sort()
  const calls: PackedCall[] = []
  for (let from = 0; from < n;) {
    // the members of this call: [from, to), at most maxMembers
    const to = Math.min(n, from + maxMembers)
    let bytes = 0
    let buckets = 0
    let last = -1
    for (let k = from; k < to; k++) {
      const bucket = Math.floor(order[k] / 2 ** 24)
      if (bucket !== last) {
        buckets++
        last = bucket
      }
      bytes += 2 + multihashes[order[k] % 2 ** 24].length
    }
    const members = Buffer.allocUnsafe(bytes + 2 * buckets)
    const ids: number[] = []
    let at = 0
    let countAt = -1
    let count = 0
    for (let k = from; k < to; k++) {
      const bucket = Math.floor(order[k] / 2 ** 24)
      if (bucket !== ids[ids.length - 1]) {
        if (countAt >= 0) members.writeUInt16BE(count, countAt)
        ids.push(bucket)
        countAt = at
        at += 2
        count = 0
      }
      count++
      const multihash = multihashes[order[k] % 2 ** 24]
      members.writeUInt16BE(multihash.length, at)
      members.set(multihash, at + 2)
      at += 2 + multihash.length
    }
    members.writeUInt16BE(count, countAt)
    calls.push({ buckets: ids, members })
    from = to
  }
  return calls
}

/** Bucket names and dirty-mark prefixes, built once per context and generation. */
const nameCache = new WeakMap<KeystoreContext, { generation: number; names: string[]; prefixes: string[] }>()

function cachedNames(context: KeystoreContext, generation: number): { names: string[]; prefixes: string[] } {
  let cache = nameCache.get(context)
  if (cache === undefined || cache.generation !== generation) {
    cache = { generation, names: [], prefixes: [] }
    nameCache.set(context, cache)
  }
  return cache
}

/**
 * Adds multihashes to a generation and counts the new ones, without telling which: one
 * packed script call per ~1024 members, all in one pipeline, the total counter kept in the
 * same calls. With markDirty, each bucket that got a new key is marked in the schedule's
 * dirty hash in that call too (HSETNX semantics, as ScheduleStore.markDirty writes it), so
 * a key is never stored without its mark. Returns the count and the buckets with new keys.
 */
export async function addCountToGeneration(
  context: KeystoreContext, generation: number, multihashes: readonly Uint8Array[],
  options: { once?: boolean; markDirty?: boolean; now?: number } = {}
): Promise<{ added: number; buckets: number[] }> {
  const calls = planPackedCalls(multihashes, context.bucketBits)
  if (calls.length === 0) return { added: 0, buckets: [] }
  const { names, prefixes } = cachedNames(context, generation)
  const total = context.names.keystoreTotal(generation)
  const now = String(options.now ?? Date.now())
  const pipeline = context.redis.pipeline()
  for (const call of calls) {
    const keys = call.buckets.map((bucket) => (names[bucket] ??= bucketName(context, generation, bucket)))
    keys.push(total)
    const args: Array<string | Buffer> = [options.once ? '1' : '', call.members]
    if (options.markDirty) {
      keys.push(context.names.dirty)
      args.push(now, call.buckets.map((bucket) => (prefixes[bucket] ??= bucket.toString(2).padStart(context.bucketBits, '0'))).join(''))
    }
    queueScript(pipeline, 'sweepKeystoreAddCount', keys, args)
  }
  const replies = await execPipeline(pipeline) as Array<[number, string]>
  let added = 0
  const buckets: number[] = []
  calls.forEach((call, i) => {
    const [n, fresh] = replies[i]
    added += n
    for (let b = 0; b < fresh.length; b++) if (fresh.charCodeAt(b) === 49 /* '1' */) buckets.push(call.buckets[b])
  })
  return { added, buckets }
}

/** Deletes multihashes (with onlyOnce, only those still flagged once); returns how many went. */
export async function removeFromGeneration(
  context: KeystoreContext, generation: number, multihashes: readonly Uint8Array[], onlyOnce: boolean
): Promise<number> {
  const calls = planCalls(multihashes, context.bucketBits)
  if (calls.length === 0) return 0
  const pipeline = context.redis.pipeline()
  for (const call of calls) {
    queueScript(pipeline, 'sweepKeystoreRemove', call.buckets.map((bucket) => bucketName(context, generation, bucket)),
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
