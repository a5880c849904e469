import type { IncomingMessage } from 'node:http'
import type { Prefix } from '@sweep/keyspace'
import { injectTrace, trace, TraceFlags } from '@sweep/telemetry'
import { unpackMultihashes, type AnyKeystore, type KeystoreReset, type PackedMultihashes, type ScheduleStore } from '@sweep/store'
import { cidLinePacks, LineTally } from './cid-lines.ts'
import { HttpError, isJson, limitedBody, lineOffsetOf } from './http.ts'
import { cidJsonPacks } from './json-cids.ts'
import type { ResetUploads } from './reset-uploads.ts'
import { TimeSlicer } from './time-slice.ts'

/**
 * Keys per keystore call: a whole CLI chunk (4 MiB, ~70k lines) goes in one. Redis' cost
 * is mostly per command and a bucket's new keys go in one HSET, so the more keys share a
 * bucket the cheaper each (with 2^16 buckets, 128k keys make ~57k HSETs, 16k keys ~15k);
 * 128k took Redis CPU per key from 3.9 to 3.0 µs against 64k (bench:import).
 */
const BATCH = 131_072
/** Keystore writes under way while the next batch is parsed, so parsing and Redis overlap. */
const WRITES_IN_FLIGHT = 2
/** Buckets a traced request is noted under one by one, before it is noted once at the root. */
const MAX_TRACED_PREFIXES = 4096

export interface IntakeDeps {
  readonly keystore: AnyKeystore
  readonly schedule: ScheduleStore
  readonly maxBodyBytes: number
  /** Told how many new keys each stored batch added (the keys-added counter). */
  readonly onKeysAdded?: (added: number) => void
}

/**
 * Runs fn on every batch of valid multihashes in the body, text/plain or `{"cids": [...]}`,
 * packed back to back, with up to inFlight calls running at once. Returns (or throws) only once every call has
 * settled, so nothing is still writing when the response goes out.
 */
async function forEachBatch(
  req: IncomingMessage, maxBodyBytes: number, fn: (batch: PackedMultihashes) => Promise<void>, inFlight = 1
): Promise<LineTally> {
  const tally = new LineTally()
  const running: Array<Promise<void>> = []
  const submit = async (batch: PackedMultihashes): Promise<void> => {
    if (running.length >= inFlight) await running.shift()
    const call = fn(batch)
    call.catch(() => {}) // awaited below; this only keeps a failure from counting as unhandled meanwhile
    running.push(call)
  }
  try {
    const body = limitedBody(req, maxBodyBytes)
    const batches = isJson(req) ? cidJsonPacks(body, tally, BATCH) : cidLinePacks(body, tally, lineOffsetOf(req), BATCH)
    for await (const batch of batches) await submit(batch)
    while (running.length > 0) await running.shift()
  } finally {
    await Promise.allSettled(running)
  }
  return tally
}

function report(tally: LineTally): { accepted: number; invalid: LineTally['invalid']; invalidCount: number } {
  return { accepted: tally.accepted, invalid: tally.invalid, invalidCount: tally.invalidCount }
}

/**
 * Stores new keys and marks their buckets dirty, so the leader queues a provide for their
 * regions. The keystore marks them in the same Redis calls that store the keys: one
 * HSETNX per bucket from here cost more than the keys themselves (19k → 72k CIDs/s).
 */
export async function provide(req: IncomingMessage, deps: IntakeDeps, once: boolean): Promise<object> {
  let added = 0
  const dirty = new Set<Prefix>()
  const traceparent = sampledTraceparent()
  const tally = await forEachBatch(req, deps.maxBodyBytes, async (batch) => {
    if (traceparent !== undefined) await markRequestTrace(deps, batch, traceparent)
    const outcome = await deps.keystore.addCount(batch, { once, markDirty: true })
    added += outcome.added
    deps.onKeysAdded?.(outcome.added)
    for (const prefix of outcome.prefixes) dirty.add(prefix)
  }, WRITES_IN_FLIGHT)
  // the marks are in: wake the leader rather than leave new keys waiting for its tick
  if (dirty.size > 0) await deps.schedule.announceDirty()
  return { ...report(tally), added, duplicates: tally.accepted - added, dirtyBuckets: dirty.size }
}

/** The request span's traceparent when it is sampled: an unsampled trace costs no Redis writes. */
function sampledTraceparent(): string | undefined {
  const span = trace.getActiveSpan()
  if (span === undefined || (span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) return undefined
  return injectTrace().traceparent
}

/**
 * Notes the request under the buckets this batch is about to mark dirty, so their burst
 * jobs link to it. Past MAX_TRACED_PREFIXES buckets it is noted once at the root, which
 * every region's job links to.
 */
async function markRequestTrace(deps: IntakeDeps, batch: PackedMultihashes, traceparent: string): Promise<void> {
  const prefixes = new Set<Prefix>()
  for (const multihash of unpackMultihashes(batch)) {
    prefixes.add(deps.keystore.bucketPrefix(deps.keystore.bucketOf(multihash)))
    if (prefixes.size > MAX_TRACED_PREFIXES) break
  }
  await deps.schedule.markTraces(prefixes.size > MAX_TRACED_PREFIXES ? [''] : [...prefixes], traceparent)
}

export async function stop(req: IncomingMessage, deps: IntakeDeps): Promise<object> {
  let removed = 0
  const tally = await forEachBatch(req, deps.maxBodyBytes, async (batch) => {
    removed += await deps.keystore.remove(unpackMultihashes(batch))
  })
  return { ...report(tally), removed }
}

/** The zero-accepted check of a reset: an empty set is a wipe, done only when asked for by name. */
function refuseEmpty(accepted: number, allowEmpty: boolean, what: string): void {
  if (accepted === 0 && !allowEmpty) {
    throw new HttpError(400, `${what} holds no valid CIDs, so it would empty the reprovide set; add ?allowEmpty=1 (sweep reset --allow-empty) if that is what you want`)
  }
}

async function markDirty(deps: IntakeDeps, buckets: Iterable<number>): Promise<void> {
  const prefixes = new Set<Prefix>()
  for (const bucket of buckets) prefixes.add(deps.keystore.bucketPrefix(bucket))
  if (prefixes.size === 0) return
  await deps.schedule.markDirty([...prefixes])
  await deps.schedule.announceDirty()
}

/** What a body has put into a reset so far, kept even when the body fails halfway. */
interface Staged {
  accepted: number
  readonly buckets: Set<number>
}

/** Adds a body's CIDs to a reset, noting each stored batch in staged. */
async function addBody(req: IncomingMessage, deps: IntakeDeps, reset: KeystoreReset, staged: Staged): Promise<LineTally> {
  return forEachBatch(req, deps.maxBodyBytes, async (batch) => {
    const multihashes = unpackMultihashes(batch)
    await reset.add(multihashes)
    staged.accepted += multihashes.length
    // a hash per key: a whole batch at once would hold the event loop for ~100 ms
    const slicer = new TimeSlicer()
    for (let i = 0; i < multihashes.length; i++) {
      staged.buckets.add(deps.keystore.bucketOf(multihashes[i]))
      if ((i & 1023) === 1023) await slicer.pause()
    }
  })
}

/** `PUT /v1/reprovide-set`: the whole new set in one body; nothing is visible before the commit. */
export async function replaceSet(req: IncomingMessage, deps: IntakeDeps, uploads: ResetUploads, allowEmpty: boolean): Promise<object> {
  const reset = await uploads.beginWhole()
  try {
    const staged: Staged = { accepted: 0, buckets: new Set() }
    const tally = await addBody(req, deps, reset, staged)
    refuseEmpty(tally.accepted, allowEmpty, 'the body')
    const { total } = await reset.commit()
    await markDirty(deps, staged.buckets)
    return { ...report(tally), total }
  } catch (error) {
    await reset.abort()
    throw error
  }
}

/**
 * One chunk of an upload, which any coordinator may take. What it stored is noted even when
 * the body fails halfway (a 413), so the commit still schedules those keys' regions.
 */
export async function addToUpload(req: IncomingMessage, deps: IntakeDeps, uploads: ResetUploads, id: string): Promise<object> {
  const reset = await uploads.take(id)
  const staged: Staged = { accepted: 0, buckets: new Set() }
  try {
    return report(await addBody(req, deps, reset, staged))
  } finally {
    await uploads.noteChunk(staged.accepted, staged.buckets)
  }
}

export async function commitUpload(deps: IntakeDeps, uploads: ResetUploads, id: string, allowEmpty: boolean): Promise<{ total: number }> {
  const { total, buckets } = await uploads.commit(id, allowEmpty)
  await markDirty(deps, buckets)
  return { total }
}
