import { setImmediate as nextTurn } from 'node:timers/promises'
import { sha256Head } from './bucket-hash.ts'
import { bucketName, CALL_MEMBERS, childrenOf, type KeystoreContext } from './keystore-generations.ts'
import { encodeCommand, RespPipe } from './resp-pipe.ts'
import { execWrites, queueScript, REBUCKETED, runScript } from './scripts.ts'
import type { AddJournal } from './unsettled-adds.ts'

/**
 * Multihashes back to back in one allocation, the i-th at bytes[offsets[i], offsets[i + 1]).
 * A batch of 64k separate Uint8Arrays kept young-generation GC busy copying them while the
 * write was in flight; this is two objects.
 */
export interface PackedMultihashes {
  readonly bytes: Uint8Array
  /** count + 1 ascending offsets into bytes. */
  readonly offsets: Uint32Array
}

export function packedCount(packed: PackedMultihashes): number {
  return packed.offsets.length - 1
}

/** Copies multihashes into one allocation, checking each is 1 to 65535 bytes. */
export function packMultihashes(multihashes: readonly Uint8Array[]): PackedMultihashes {
  const offsets = new Uint32Array(multihashes.length + 1)
  multihashes.forEach((multihash, i) => {
    if (!(multihash instanceof Uint8Array) || multihash.length === 0 || multihash.length > 0xffff) {
      throw new Error(`multihashes[${i}]: expected 1 to 65535 bytes, got ${multihash instanceof Uint8Array ? `${multihash.length} bytes` : typeof multihash}`)
    }
    offsets[i + 1] = offsets[i] + multihash.length
  })
  const bytes = new Uint8Array(offsets[multihashes.length])
  multihashes.forEach((multihash, i) => bytes.set(multihash, offsets[i]))
  return { bytes, offsets }
}

/** The multihashes of a pack, as views into its bytes (no copy). */
export function unpackMultihashes(packed: PackedMultihashes): Uint8Array[] {
  const out: Uint8Array[] = []
  for (let i = 0; i + 1 < packed.offsets.length; i++) out.push(packed.bytes.subarray(packed.offsets[i], packed.offsets[i + 1]))
  return out
}

/** Members [from, to) as a packed view of the same bytes. */
export function packedSlice(packed: PackedMultihashes, from: number, to: number): PackedMultihashes {
  return { bytes: packed.bytes, offsets: packed.offsets.subarray(from, to + 1) }
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

/** Bucket start positions of a counting sort, reused: buckets of up to 16 bits. */
const starts = new Uint32Array(2 ** 16 + 1)

/** Positions 0..n-1 ordered by bucket, input order kept within a bucket. */
function orderByBucket(buckets: Uint32Array, bucketBits: number): Uint32Array {
  const n = buckets.length
  const order = new Uint32Array(n)
  if (bucketBits > 16) {
    const keyed = new Float64Array(n)
    for (let i = 0; i < n; i++) keyed[i] = buckets[i] * 2 ** 24 + i
    keyed.sort()
    for (let k = 0; k < n; k++) order[k] = keyed[k] % 2 ** 24
    return order
  }
  const size = 2 ** bucketBits
  starts.fill(0, 0, size + 1)
  for (let i = 0; i < n; i++) starts[buckets[i] + 1]++
  for (let b = 1; b <= size; b++) starts[b] += starts[b - 1]
  for (let i = 0; i < n; i++) order[starts[buckets[i]]++] = i
  return order
}

/**
 * Keys handled between two turns of the event loop in a native add (about 3 ms): a
 * whole 128k-key call in one go held the coordinator's loop for 110–160 ms, long
 * enough to stall the API and lease renewals under a stream of provides.
 */
const KEYS_PER_TURN = 8192

/** bucketsOf, a turn of the event loop every KEYS_PER_TURN keys. */
async function bucketsOfInTurns(packed: PackedMultihashes, bucketBits: number): Promise<Uint32Array> {
  const n = packedCount(packed)
  const buckets = new Uint32Array(n)
  for (let from = 0; from < n; from += KEYS_PER_TURN) {
    if (from > 0) await nextTurn()
    buckets.set(bucketsOf(packedSlice(packed, from, Math.min(n, from + KEYS_PER_TURN)), bucketBits), from)
  }
  return buckets
}

function bucketsOf(packed: PackedMultihashes, bucketBits: number): Uint32Array {
  const { bytes, offsets } = packed
  const n = packedCount(packed)
  if (n > 2 ** 24) throw new Error(`at most ${2 ** 24} multihashes per write, got ${n}`)
  const buckets = new Uint32Array(n)
  for (let i = 0; i < n; i++) buckets[i] = sha256Head(bytes, offsets[i], offsets[i + 1]) >>> (32 - bucketBits)
  return buckets
}

/** Multihashes by bucket (in bucket order), packed into calls of at most maxMembers. */
export function planPackedCalls(packed: PackedMultihashes, bucketBits: number, maxMembers = CALL_MEMBERS): PackedCall[] {
  const { bytes, offsets } = packed
  const n = packedCount(packed)
  const buckets = bucketsOf(packed, bucketBits)
  const order = orderByBucket(buckets, bucketBits)
  const calls: PackedCall[] = []
  for (let from = 0; from < n; from += maxMembers) {
    const to = Math.min(n, from + maxMembers)
    let size = 0
    let last = -1
    for (let k = from; k < to; k++) {
      const i = order[k]
      if (buckets[i] !== last) {
        size += 2
        last = buckets[i]
      }
      size += 2 + offsets[i + 1] - offsets[i]
    }
    const members = Buffer.allocUnsafe(size)
    const ids: number[] = []
    let at = 0
    let countAt = 0
    let count = 0
    for (let k = from; k < to; k++) {
      const i = order[k]
      if (buckets[i] !== ids[ids.length - 1]) {
        if (ids.length > 0) members.writeUInt16BE(count, countAt)
        ids.push(buckets[i])
        countAt = at
        at += 2
        count = 0
      }
      count++
      const length = offsets[i + 1] - offsets[i]
      members.writeUInt16BE(length, at)
      members.set(bytes.subarray(offsets[i], offsets[i + 1]), at + 2)
      at += 2 + length
    }
    members.writeUInt16BE(count, countAt)
    calls.push({ buckets: ids, members })
  }
  return calls
}

interface NameCache {
  readonly generation: number
  readonly names: string[]
  readonly prefixes: string[]
  /** `*` count aside, the RESP start of an HSET to the bucket: command name and key. */
  readonly hsetHeads: string[]
}

/** Bucket names and dirty-mark prefixes, built once per context and generation. */
const nameCache = new WeakMap<KeystoreContext, NameCache>()

function cachedNames(context: KeystoreContext, generation: number): NameCache {
  let cache = nameCache.get(context)
  if (cache === undefined || cache.generation !== generation) {
    cache = { generation, names: [], prefixes: [], hsetHeads: [] }
    nameCache.set(context, cache)
  }
  return cache
}

function prefixOfBucket(cache: NameCache, bucket: number, bucketBits: number): string {
  return (cache.prefixes[bucket] ??= bucket.toString(2).padStart(bucketBits, '0'))
}

/**
 * addCountToGeneration for permanent adds, without Lua: one native `HSET bucket m1 '' m2 ''
 * …` per bucket, hand-encoded into one buffer and sent over a bare connection (RespPipe),
 * each reply the bucket's new members; then one small script adds them to the total and
 * marks the buckets. HSET turns an existing once member permanent without counting it,
 * as the scripts do. Redis spends ~40% less per key than in the script (Lua strings and
 * redis.call per bucket were most of it). Not atomic like the script, so the same buffer
 * first opens an entry in the unsettled-adds journal (AddJournal), naming every bucket
 * touched, and the script settles it: an add killed between the two leaves the entry, and
 * repairUnsettledAdds marks those buckets and recounts the total.
 */
export async function addCountNative(
  context: KeystoreContext, generation: number, packed: PackedMultihashes, journal: AddJournal,
  options: { markDirty?: boolean } = {}
): Promise<{ added: number; buckets: number[] }> {
  const { bytes, offsets } = packed
  const n = packedCount(packed)
  if (n === 0) return { added: 0, buckets: [] }
  const buckets = await bucketsOfInTurns(packed, context.bucketBits)
  const order = orderByBucket(buckets, context.bucketBits)
  const cache = cachedNames(context, generation)
  const width = context.bucketBits
  // groups as [first, end) runs of order; the payload's size is bounded by its parts
  const groups: number[] = []
  let size = 0
  for (let k = 0; k < n; k++) {
    const i = order[k]
    if (k === 0 || buckets[i] !== buckets[order[k - 1]]) {
      groups.push(k)
      cache.hsetHeads[buckets[i]] ??= `$4\r\nHSET\r\n$${bucketName(context, generation, buckets[i]).length}\r\n${bucketName(context, generation, buckets[i])}\r\n`
      size += 16 + cache.hsetHeads[buckets[i]].length + width
    }
    size += 16 + offsets[i + 1] - offsets[i]
  }
  groups.push(n)
  const entry = journal.begin()
  try {
    const head = encodeCommand(['SET', entry.writerKey, '1', 'PX', String(entry.ttlMs)]).toString('latin1') +
      `*4\r\n$4\r\nHSET\r\n$${context.names.keystoreUnsettled.length}\r\n${context.names.keystoreUnsettled}\r\n` +
      `$${entry.token.length}\r\n${entry.token}\r\n$${2 + (groups.length - 1) * width}\r\n${String(width).padStart(2, '0')}`
    const payload = takePayload(size + head.length + 2)
    let at = payload.write(head, 0, 'latin1')
    // the entry's value, the prefix width then every touched bucket's prefix, is filled in by the loop below
    let prefixAt = at
    at += (groups.length - 1) * width
    payload[at++] = 13
    payload[at++] = 10
    const ids: number[] = []
    let nextBreak = KEYS_PER_TURN
    for (let g = 0; g + 1 < groups.length; g++) {
      if (groups[g] >= nextBreak) {
        nextBreak = groups[g] + KEYS_PER_TURN
        await nextTurn()
      }
      const bucket = buckets[order[groups[g]]]
      ids.push(bucket)
      prefixAt += payload.write(prefixOfBucket(cache, bucket, width), prefixAt, 'latin1')
      at += payload.write(`*${2 + 2 * (groups[g + 1] - groups[g])}\r\n${cache.hsetHeads[bucket]}`, at, 'latin1')
      for (let k = groups[g]; k < groups[g + 1]; k++) {
        const i = order[k]
        const from = offsets[i]
        const length = offsets[i + 1] - from
        at = writeBulkLength(payload, at, length)
        // byte by byte: for 34 bytes cheaper than a subarray and a set()
        for (let j = 0; j < length; j++) payload[at + j] = bytes[from + j]
        at += length
        // the field's CRLF, then an empty value: \r\n$0\r\n\r\n
        payload[at] = 13
        payload[at + 1] = 10
        payload[at + 2] = 0x24
        payload[at + 3] = 48
        payload[at + 4] = 13
        payload[at + 5] = 10
        payload[at + 6] = 13
        payload[at + 7] = 10
        at += 8
      }
    }
    let replies: number[]
    try {
      replies = await RespPipe.of(context.redis).send(payload.subarray(0, at), ids.length + 2)
    } finally {
      givePayloadBack(payload)
    }
    let added = 0
    const fresh: number[] = []
    for (let g = 0; g < ids.length; g++) {
      const count = replies[g + 2]
      if (count > 0) {
        added += count
        fresh.push(ids[g])
      }
    }
    await settle(context, generation, { token: entry.token, added, buckets: fresh, mark: options.markDirty === true })
    return { added, buckets: fresh }
  } finally {
    journal.end()
  }
}

/**
 * Payload buffers kept for the next write. A fresh 4 MB buffer per batch is external
 * memory V8 answers with full collections; once the replies are in, Redis has read it all.
 */
const spare: Buffer[] = []

function takePayload(size: number): Buffer {
  const at = spare.findIndex((buffer) => buffer.length >= size)
  return at >= 0 ? spare.splice(at, 1)[0] : Buffer.allocUnsafeSlow(Math.max(size, 2 ** 22))
}

function givePayloadBack(buffer: Buffer): void {
  if (spare.length < 4) spare.push(buffer)
}

/** `$<length>\r\n` written as bytes. */
function writeBulkLength(out: Buffer, at: number, length: number): number {
  out[at++] = 0x24
  if (length >= 10) {
    const digits = String(length)
    for (let d = 0; d < digits.length; d++) out[at++] = digits.charCodeAt(d)
  } else out[at++] = 48 + length
  out[at++] = 13
  out[at++] = 10
  return at
}

/**
 * Settles a native add (token), adding its new members to the total and, with mark, marking
 * buckets dirty; without a token, only adds and marks.
 */
export async function settle(
  context: KeystoreContext, generation: number,
  change: { token?: string; added: number; buckets: readonly number[]; mark: boolean }
): Promise<void> {
  if (change.token === undefined && change.added === 0 && (!change.mark || change.buckets.length === 0)) return
  const cache = cachedNames(context, generation)
  const { names } = context
  await runScript(context.redis, 'sweepKeystoreSettle',
    [names.keystoreTotal(generation), names.dirty, names.keystoreUnsettled, names.keystoreRecountNeeded],
    [change.token ?? '', change.added, change.buckets.map((bucket) => prefixOfBucket(cache, bucket, context.bucketBits)).join(''),
      context.bucketBits, change.mark ? '1' : ''])
}

/** The distinct buckets of packed multihashes. */
export function distinctBuckets(packed: PackedMultihashes, bucketBits: number): number[] {
  return [...new Set(bucketsOf(packed, bucketBits))]
}

/**
 * Adds multihashes to a generation and counts the new ones, without telling which: one
 * packed script call per ~1024 members, all in one pipeline, the total counter kept in the
 * same calls. With markDirty, each bucket that got a new key is marked in the schedule's
 * dirty hash in that call too (as ScheduleStore.markDirty writes it), so
 * a key is never stored without its mark; while a native add is unsettled, every bucket of
 * the call is (see sweepKeystoreAddCount). Returns the count, the buckets with new keys, and
 * the keys to add to the current generation again, this one having been re-bucketed meanwhile.
 */
export async function addCountToGeneration(
  context: KeystoreContext, generation: number, packed: PackedMultihashes,
  options: { once?: boolean; markDirty?: boolean; forwardBits?: number } = {}
): Promise<{ added: number; buckets: number[]; rewrite: Uint8Array[] }> {
  const calls = planPackedCalls(packed, context.bucketBits)
  const rewrite: Uint8Array[] = []
  if (calls.length === 0) return { added: 0, buckets: [], rewrite }
  const cache = cachedNames(context, generation)
  const total = context.names.keystoreTotal(generation)
  const pipeline = context.redis.pipeline()
  for (const call of calls) {
    const keys = call.buckets.map((bucket) => (cache.names[bucket] ??= bucketName(context, generation, bucket)))
    keys.push(total)
    const args: Array<string | Buffer> = [options.once ? '1' : '', call.members]
    if (options.markDirty) {
      keys.push(context.names.dirty, context.names.keystoreUnsettled)
      args.push(call.buckets.map((bucket) => prefixOfBucket(cache, bucket, context.bucketBits)).join(''))
    } else args.push('')
    if (options.forwardBits !== undefined) args.push(childrenOf(membersOfCall(call), context.bucketBits, options.forwardBits))
    queueScript(pipeline, 'sweepKeystoreAddCount', keys, args)
  }
  const replies = await execWrites(pipeline, { redis: context.redis, key: context.names.keystoreConfig })
  let added = 0
  const buckets: number[] = []
  calls.forEach((call, i) => {
    if (replies[i] === REBUCKETED) {
      rewrite.push(...membersOfCall(call))
      return
    }
    const [n, fresh] = replies[i] as [number, string]
    added += n
    for (let b = 0; b < fresh.length; b++) if (fresh.charCodeAt(b) === 49 /* '1' */) buckets.push(call.buckets[b])
  })
  return { added, buckets, rewrite }
}

/** The multihashes of a packed call, back out of its blob. */
function membersOfCall(call: PackedCall): Uint8Array[] {
  const members: Uint8Array[] = []
  let at = 0
  for (let b = 0; b < call.buckets.length; b++) {
    const n = call.members.readUInt16BE(at)
    at += 2
    for (let j = 0; j < n; j++) {
      const length = call.members.readUInt16BE(at)
      members.push(call.members.subarray(at + 2, at + 2 + length))
      at += 2 + length
    }
  }
  return members
}
