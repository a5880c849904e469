import { randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import { bitmapOf, bitmapOffsets, hashTag, RebucketingInProgressError, ShardedResetError, storeKeys, type AnyKeystore, type KeystoreReset } from '@sweep/store'
import { HttpError } from './http.ts'

/** An upload nobody touched for this long is aborted, so a vanished client can't block resets forever. */
export const UPLOAD_IDLE_MS = 15 * 60_000

/** What Redis keeps of the one open upload (one reset at a time per namespace). */
interface UploadRecord {
  readonly id: string
  readonly generation: number
  readonly lastUsed: number
  readonly accepted: number
}

/**
 * Chunked reset uploads, kept in Redis rather than in one coordinator's memory: any
 * coordinator can take the next chunk, commit or abort, and an upload outlives the restart of
 * the coordinator that opened it. While an upload is open, its record, its bitmap of touched
 * buckets and the keystore's reset lock all live idleMs past the last chunk, plus a sweep
 * period so that some coordinator's sweep aborts it (deleting the staged keys) before the lock
 * lapses. (The lock alone would lapse after the keystore's reset TTL, 60 s.)
 */
export class ResetUploads {
  readonly idleMs: number
  private readonly keystore: AnyKeystore
  private readonly redis: Redis
  private readonly recordKey: string
  private readonly bucketsKey: string
  private readonly lockKey: string

  constructor(keystore: AnyKeystore, idleMs = UPLOAD_IDLE_MS) {
    this.keystore = keystore
    this.idleMs = idleMs
    const { redis, namespace } = keystore.location
    this.redis = redis
    this.recordKey = `${hashTag(namespace)}:api:reset-upload`
    this.bucketsKey = `${hashTag(namespace)}:api:reset-upload-buckets`
    this.lockKey = storeKeys(namespace).keystoreResetLock
  }

  /** How often a coordinator looks for idle uploads. */
  get sweepMs(): number {
    return Math.min(60_000, Math.max(100, Math.floor(this.idleMs / 4)))
  }

  private get keepMs(): number {
    return this.idleMs + 2 * this.sweepMs
  }

  /** A reset for a whole body (PUT), or 409 naming whatever reset is open. */
  async beginWhole(): Promise<KeystoreReset> {
    try {
      return await this.keystore.beginReset()
    } catch (error) {
      throw await this.busy(error)
    }
  }

  async open(now = Date.now()): Promise<string> {
    let reset: KeystoreReset
    try {
      reset = await this.keystore.beginReset()
    } catch (error) {
      throw await this.busy(error)
    }
    const id = randomUUID()
    await this.keystore.resumeReset(reset.generation, this.keepMs)
    await this.redis.multi()
      .hset(this.recordKey, { id, generation: reset.generation, lastUsed: now, accepted: 0 })
      .pexpire(this.recordKey, this.keepMs)
      .exec()
    return id
  }

  /** The open upload's reset, its lock renewed; 404 for an id that is not the open upload. */
  async take(id: string, now = Date.now()): Promise<KeystoreReset> {
    const record = await this.record(id)
    let reset: KeystoreReset
    try {
      reset = await this.keystore.resumeReset(record.generation, this.keepMs)
    } catch {
      throw this.missing(id)
    }
    await this.redis.multi()
      .hset(this.recordKey, 'lastUsed', now)
      .pexpire(this.recordKey, this.keepMs)
      .exec()
    return reset
  }

  /** After a chunk: how many CIDs it added and which buckets it touched (as a bitmap, bit = bucket). */
  async noteChunk(accepted: number, buckets: Iterable<number>): Promise<void> {
    const touched = [...buckets]
    const scratch = `${this.bucketsKey}:${randomUUID()}`
    const tx = this.redis.multi().hincrby(this.recordKey, 'accepted', accepted)
    if (touched.length > 0) tx.set(scratch, bitmapOf(touched, 2 ** this.keystore.bucketBits), 'PX', 60_000).bitop('OR', this.bucketsKey, this.bucketsKey, scratch).del(scratch)
    await tx.pexpire(this.recordKey, this.keepMs).pexpire(this.bucketsKey, this.keepMs).exec()
  }

  /** Commits the upload: the new set's size and the buckets it touched. 400 for an empty set without allowEmpty. */
  async commit(id: string, allowEmpty: boolean): Promise<{ total: number; buckets: number[] }> {
    const record = await this.record(id)
    if (record.accepted === 0 && !allowEmpty) {
      throw new HttpError(400, `upload ${id} holds no valid CIDs, so committing it would empty the reprovide set; commit with ?allowEmpty=1 (sweep reset --allow-empty) if that is what you want, or DELETE the upload`)
    }
    const reset = await this.take(id)
    const bitmap = await this.redis.getBuffer(this.bucketsKey)
    const { total } = await reset.commit()
    await this.redis.del(this.recordKey, this.bucketsKey)
    return { total, buckets: bitmapOffsets(bitmap) }
  }

  async abort(id: string): Promise<void> {
    const record = await this.record(id)
    const reset = await this.keystore.resumeReset(record.generation, this.keepMs).catch(() => undefined)
    await this.redis.del(this.recordKey, this.bucketsKey)
    await reset?.abort()
  }

  /** Aborts the open upload if it has been idle for idleMs; any coordinator may do it. */
  async abortIdle(log: Logger, now = Date.now()): Promise<void> {
    const record = await this.current()
    if (record === undefined || now - record.lastUsed < this.idleMs) return
    await this.abort(record.id)
    log.warn({ upload: record.id, idleMs: now - record.lastUsed }, 'aborted an idle reset upload')
  }

  private async current(): Promise<UploadRecord | undefined> {
    const fields = await this.redis.hgetall(this.recordKey)
    if (fields.id === undefined) return undefined
    return { id: fields.id, generation: Number(fields.generation), lastUsed: Number(fields.lastUsed), accepted: Number(fields.accepted ?? 0) }
  }

  private async record(id: string): Promise<UploadRecord> {
    const record = await this.current()
    if (record?.id !== id) throw this.missing(id)
    return record
  }

  private missing(id: string): HttpError {
    return new HttpError(404, `no reset upload "${id}" (it was committed, aborted, or idle for over ${Math.round(this.idleMs / 60_000)} min)`)
  }

  /** 409 naming the reset that holds the lock, or the original error when the lock is free after all. */
  private async busy(error: unknown): Promise<Error> {
    if (error instanceof RebucketingInProgressError) return new HttpError(409, error.message)
    if (error instanceof ShardedResetError) return new HttpError(501, error.message)
    if (await this.redis.exists(this.lockKey) === 0) return error as Error
    const open = await this.current()
    if (open === undefined) return new HttpError(409, 'another reset of the reprovide set is in progress (a PUT /v1/reprovide-set); try again when it is done')
    const idleS = Math.round((Date.now() - open.lastUsed) / 1000)
    return new HttpError(409, `reset upload ${open.id} is open (last chunk ${idleS} s ago); commit or DELETE /v1/reprovide-set/uploads/${open.id} first, or wait: it is aborted after ${Math.round(this.idleMs / 60_000)} min idle`)
  }
}
