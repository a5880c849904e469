import type { IncomingMessage } from 'node:http'
import type { Prefix } from '@sweep/keyspace'
import type { Keystore, KeystoreReset, PackedMultihashes, ScheduleStore } from '@sweep/store'
import { cidArrayBatches, cidLinePacks, LineTally, packSha256Multihashes, unpackMultihashes } from './cid-lines.ts'
import { HttpError, isJson, limitedBody, lineOffsetOf, readJson } from './http.ts'

/**
 * Keys per keystore call: a whole CLI chunk (4 MiB, ~70k lines) goes in one. Redis' cost
 * is mostly per command and a bucket's new keys go in one HSET, so the more keys share a
 * bucket the cheaper each (with 2^16 buckets, 128k keys make ~57k HSETs, 16k keys ~15k);
 * 128k took Redis CPU per key from 3.9 to 3.0 µs against 64k (bench:import).
 */
const BATCH = 131_072
/** Keystore writes under way while the next batch is parsed, so parsing and Redis overlap. */
const WRITES_IN_FLIGHT = 2

export interface IntakeDeps {
  readonly keystore: Keystore
  readonly schedule: ScheduleStore
  readonly maxBodyBytes: number
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
    if (isJson(req)) {
      const body = await readJson(req, maxBodyBytes)
      const cids = (body as { cids?: unknown } | null)?.cids
      if (!Array.isArray(cids)) throw new HttpError(400, 'JSON body must be {"cids": ["<cid>", ...]}')
      for (const batch of cidArrayBatches(cids, tally, BATCH)) await submit(packSha256Multihashes(batch))
    } else {
      for await (const batch of cidLinePacks(limitedBody(req, maxBodyBytes), tally, lineOffsetOf(req), BATCH)) await submit(batch)
    }
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
  const dirty = new Set<number>()
  const tally = await forEachBatch(req, deps.maxBodyBytes, async (batch) => {
    const outcome = await deps.keystore.addCount(batch, { once, markDirty: true })
    added += outcome.added
    for (const bucket of outcome.buckets) dirty.add(bucket)
  }, WRITES_IN_FLIGHT)
  return { ...report(tally), added, duplicates: tally.accepted - added, dirtyBuckets: dirty.size }
}

export async function stop(req: IncomingMessage, deps: IntakeDeps): Promise<object> {
  let removed = 0
  const tally = await forEachBatch(req, deps.maxBodyBytes, async (batch) => {
    removed += await deps.keystore.remove(unpackMultihashes(batch))
  })
  return { ...report(tally), removed }
}

function bucketsOf(multihashes: readonly Uint8Array[], keystore: Keystore): Set<Prefix> {
  const buckets = new Set<number>()
  for (const multihash of multihashes) buckets.add(keystore.bucketOf(multihash))
  return new Set([...buckets].map((bucket) => keystore.bucketPrefix(bucket)))
}

/** A reset being uploaded: nothing is visible before the commit, then its buckets get a provide. */
export interface ResetUpload {
  readonly reset: KeystoreReset
  readonly buckets: Set<Prefix>
  lastUsed: number
}

export async function addToReset(req: IncomingMessage, deps: IntakeDeps, upload: ResetUpload): Promise<object> {
  const tally = await forEachBatch(req, deps.maxBodyBytes, async (batch) => {
    const multihashes = unpackMultihashes(batch)
    await upload.reset.add(multihashes)
    for (const p of bucketsOf(multihashes, deps.keystore)) upload.buckets.add(p)
  })
  return report(tally)
}

export async function commitReset(deps: IntakeDeps, upload: ResetUpload): Promise<{ total: number }> {
  const { total } = await upload.reset.commit()
  if (upload.buckets.size > 0) await deps.schedule.markDirty([...upload.buckets])
  return { total }
}
