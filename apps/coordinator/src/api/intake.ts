import type { IncomingMessage } from 'node:http'
import { kadKeyOf, prefixOf, type Prefix } from '@sweep/keyspace'
import type { Keystore, KeystoreReset, ScheduleStore } from '@sweep/store'
import { cidArrayBatches, cidLineBatches, LineTally } from './cid-lines.ts'
import { HttpError, isJson, limitedBody, lineOffsetOf, readJson } from './http.ts'

/** Keys per keystore call: big enough to pipeline well, small enough to stream a 10M-line body. */
const BATCH = 10_000

export interface IntakeDeps {
  readonly keystore: Keystore
  readonly schedule: ScheduleStore
  readonly maxBodyBytes: number
}

/** Runs fn on every batch of valid multihashes in the body, text/plain or `{"cids": [...]}`. */
async function forEachBatch(req: IncomingMessage, maxBodyBytes: number, fn: (batch: Uint8Array[]) => Promise<void>): Promise<LineTally> {
  const tally = new LineTally()
  if (isJson(req)) {
    const body = await readJson(req, maxBodyBytes)
    const cids = (body as { cids?: unknown } | null)?.cids
    if (!Array.isArray(cids)) throw new HttpError(400, 'JSON body must be {"cids": ["<cid>", ...]}')
    for (const batch of cidArrayBatches(cids, tally, BATCH)) await fn(batch)
  } else {
    for await (const batch of cidLineBatches(limitedBody(req, maxBodyBytes), tally, lineOffsetOf(req), BATCH)) await fn(batch)
  }
  return tally
}

function report(tally: LineTally): { accepted: number; invalid: LineTally['invalid']; invalidCount: number } {
  return { accepted: tally.accepted, invalid: tally.invalid, invalidCount: tally.invalidCount }
}

/** Stores new keys and marks their buckets dirty, so the leader queues a provide for their regions. */
export async function provide(req: IncomingMessage, deps: IntakeDeps, once: boolean): Promise<object> {
  let added = 0
  const dirty = new Set<Prefix>()
  const tally = await forEachBatch(req, deps.maxBodyBytes, async (batch) => {
    const fresh = await deps.keystore.add(batch, { once })
    added += fresh.length
    const prefixes = bucketsOf(fresh, deps.keystore.bucketBits)
    if (prefixes.size > 0) await deps.schedule.markDirty([...prefixes])
    for (const p of prefixes) dirty.add(p)
  })
  return { ...report(tally), added, duplicates: tally.accepted - added, dirtyBuckets: dirty.size }
}

export async function stop(req: IncomingMessage, deps: IntakeDeps): Promise<object> {
  let removed = 0
  const tally = await forEachBatch(req, deps.maxBodyBytes, async (batch) => {
    removed += await deps.keystore.remove(batch)
  })
  return { ...report(tally), removed }
}

function bucketsOf(multihashes: readonly Uint8Array[], bucketBits: number): Set<Prefix> {
  return new Set(multihashes.map((mh) => prefixOf(kadKeyOf(mh), bucketBits)))
}

/** A reset being uploaded: nothing is visible before the commit, then its buckets get a provide. */
export interface ResetUpload {
  readonly reset: KeystoreReset
  readonly buckets: Set<Prefix>
  lastUsed: number
}

export async function addToReset(req: IncomingMessage, deps: IntakeDeps, upload: ResetUpload): Promise<object> {
  const tally = await forEachBatch(req, deps.maxBodyBytes, async (batch) => {
    await upload.reset.add(batch)
    for (const p of bucketsOf(batch, deps.keystore.bucketBits)) upload.buckets.add(p)
  })
  return report(tally)
}

export async function commitReset(deps: IntakeDeps, upload: ResetUpload): Promise<{ total: number }> {
  const { total } = await upload.reset.commit()
  if (upload.buckets.size > 0) await deps.schedule.markDirty([...upload.buckets])
  return { total }
}
