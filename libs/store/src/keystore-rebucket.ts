import { setTimeout as sleep } from 'node:timers/promises'
import { bitmapOffsets } from './bitmap.ts'
import { childOfMultihash } from './bucket-hash.ts'
import {
  bucketName, deleteGeneration, generationBits, ownBuckets, withBits, type KeystoreContext
} from './keystore-generations.ts'
import { redisMemory } from './redis.ts'
import { execPipeline, queueScript, runScript } from './scripts.ts'
import { repairUnsettledAdds } from './unsettled-adds.ts'

/** What a re-bucketing under way has done, as its state in Redis says. */
export interface RebucketState {
  readonly from: number
  readonly to: number
  readonly fromBits: number
  readonly toBits: number
  /** copying: the new generation is being filled; switched: it is current, the old one drains. */
  readonly phase: 'copying' | 'switched'
  /** Old buckets copied once, in order. */
  readonly cursor: number
}

export interface RebucketProgress extends RebucketState {
  /** Buckets written since they were copied, to copy again (or merge, once switched). */
  readonly touched: number
  /** Passes over touched buckets so far. */
  readonly passes: number
  readonly membersCopied: number
}

export interface RebucketOutcome {
  readonly fromBits: number
  readonly toBits: number
  /** From the first copy to the switch. */
  readonly copyMs: number
  /** From the first copy to the old generation gone. */
  readonly totalMs: number
  readonly passes: number
  readonly membersCopied: number
  /** Members that reached the old generation after the switch, merged into the new one. */
  readonly membersMerged: number
}

export interface RebucketRunOptions {
  readonly signal?: AbortSignal
  readonly onProgress?: (progress: RebucketProgress) => void
  /**
   * After the switch, how long writes that read the old generation just before it have to
   * land there (to be merged) before it is deleted. Default 10 s, twice the writer expiry.
   */
  readonly drainMs?: number
}

/**
 * Members per pipeline of copies. Redis runs a client's pipelined commands back to back,
 * so this bounds how long others wait (tens of milliseconds); buckets per pipeline follow
 * from the sizes seen so far, at most 128.
 */
const BATCH_MEMBERS = 16_384
const MAX_BATCH_BUCKETS = 128
/** While more buckets than this are touched per pass, an import is running: let it go on a while. */
const BUSY_TOUCHED = 256
const BUSY_WAIT_MS = 1000
const PROGRESS_EVERY_MS = 2000
/** Redis bytes a key takes in listpack buckets, with room for allocator slack (41–43 B measured). */
const COPY_BYTES_PER_KEY = 48
/** The share of maxmemory a re-bucketing may fill: Redis refuses writes at maxmemory (noeviction). */
const MAXMEMORY_SHARE = 0.9

/**
 * Moves the keystore online to more bucket bits, so buckets stay small enough for Redis'
 * compact listpack encoding as the set grows. The new generation is built beside the
 * current one under the reset lock: each old bucket is copied into its 2^Δ children by one
 * script that checks the bucket did not change since the client read it (the client tells
 * each member's child, Lua having no SHA-256). Adds and removes keep going to the old
 * generation, and each write to a bucket already copied writes its child too, in the same
 * script (see FORWARD), so one pass suffices under a steady stream of writes. What could not
 * be forwarded (a writer that had not seen the re-bucketing begin, a native add) marks its
 * bucket touched, and touched buckets are copied again. Once every bucket is copied and
 * none is touched or being written natively, one script makes the copy current with its
 * bits. Writes that name the old generation after that are refused and redone by their
 * client (natives are merged), then the old generation is deleted. The state lives in
 * Redis: a mover killed at any point leaves the old set current or the new one complete,
 * and resume() carries on where it stopped. Redis holds both copies meanwhile.
 */
export class Rebucketing {
  private readonly context: KeystoreContext
  private state: RebucketState
  private readonly lockTtlMs: number
  private batchBuckets = 16
  private passes = 0
  private membersCopied = 0
  private membersMerged = 0

  private constructor(context: KeystoreContext, state: RebucketState, lockTtlMs: number) {
    this.context = context
    this.state = state
    this.lockTtlMs = lockTtlMs
  }

  /** The re-bucketing under way in the keystore, if any. */
  static async state(context: KeystoreContext): Promise<RebucketState | undefined> {
    const fields = await context.redis.hgetall(context.names.keystoreRebucket)
    if (fields.to === undefined) return undefined
    return {
      from: Number(fields.from), to: Number(fields.to), fromBits: Number(fields.fromBits), toBits: Number(fields.toBits),
      phase: fields.phase === 'switched' ? 'switched' : 'copying', cursor: Number(fields.cursor ?? 0)
    }
  }

  /**
   * Starts moving the current generation to toBits; undefined when a reset or re-bucketing
   * holds the lock. Refuses when the copy would not fit under Redis' maxmemory: there Redis
   * would refuse every write, adds included, until the copy was given up.
   */
  static async begin(context: KeystoreContext, toBits: number, lockTtlMs: number): Promise<Rebucketing | undefined> {
    const { redis, names } = context
    const from = Number(await redis.get(names.keystoreGeneration) ?? 0)
    const fromBits = await generationBits(context, from)
    if (!(Number.isInteger(toBits) && toBits > fromBits && toBits <= 24)) {
      throw new Error(`bucketBits: a re-bucketing goes to more bits than the current ${fromBits}, at most 24; got ${toBits}`)
    }
    await assertRoomForCopy(context, from)
    const to = await runScript(redis, 'sweepKeystoreBeginRebucket',
      [names.keystoreResetLock, names.keystoreGenerationSeq, names.keystoreGenerations, names.keystoreRebucket, names.keystoreConfig, names.keystoreGeneration],
      [lockTtlMs, from, fromBits, toBits]) as number
    if (to === 0) return undefined
    return new Rebucketing(context, { from, to, fromBits, toBits, phase: 'copying', cursor: 0 }, lockTtlMs)
  }

  /** Takes up a re-bucketing whose mover is gone; undefined when there is none, or its lock is still held. */
  static async resume(context: KeystoreContext, lockTtlMs: number): Promise<Rebucketing | undefined> {
    const state = await Rebucketing.state(context)
    if (state === undefined) return undefined
    const taken = await runScript(context.redis, 'sweepKeystoreResumeRebucket',
      [context.names.keystoreResetLock, context.names.keystoreRebucket], [state.to, lockTtlMs]) as number
    return taken === 1 ? new Rebucketing(context, state, lockTtlMs) : undefined
  }

  get fromBits(): number { return this.state.fromBits }
  get toBits(): number { return this.state.toBits }

  /** Runs the re-bucketing to its end: copy, switch, drain, delete the old generation. */
  async run(options: RebucketRunOptions = {}): Promise<RebucketOutcome> {
    const started = performance.now()
    const report = this.reporter(options.onProgress)
    const { first: own, end: oldBuckets } = ownBuckets(withBits(this.context, this.state.fromBits))
    if (this.state.phase === 'copying') {
      for (let first = Math.max(own, this.state.cursor); first < oldBuckets;) {
        const buckets: number[] = []
        for (let b = first; b < Math.min(oldBuckets, first + this.batchBuckets); b++) buckets.push(b)
        await this.copy(buckets, 'copy', options.signal)
        first += buckets.length
        this.state = { ...this.state, cursor: first }
        await report(0)
      }
      await this.copyUntilSwitched(options.signal, report)
    }
    const copyMs = performance.now() - started
    await this.drain(options.drainMs ?? 10_000, options.signal, report)
    await deleteGeneration(this.context, this.state.from)
    const { names } = this.context
    await runScript(this.context.redis, 'sweepKeystoreEndRebucket', [names.keystoreResetLock, names.keystoreRebucket, names.keystoreConfig],
      [this.state.to, this.state.from])
    return {
      fromBits: this.state.fromBits, toBits: this.state.toBits, copyMs, totalMs: performance.now() - started,
      passes: this.passes, membersCopied: this.membersCopied, membersMerged: this.membersMerged
    }
  }

  /** Copies touched buckets again until a moment when none is touched and the switch goes through. */
  private async copyUntilSwitched(signal: AbortSignal | undefined, report: (touched: number) => Promise<void>): Promise<void> {
    const { names } = this.context
    for (;;) {
      const touched = await this.survey(signal, report)
      if (touched.length > 0) {
        // a second busy pass in a row: writes are streaming in, so wait rather than chase them
        if (touched.length > BUSY_TOUCHED && this.passes > 0) await sleep(Math.min(BUSY_WAIT_MS, this.lockTtlMs / 3), undefined, { signal })
        this.passes++
        await this.copy(touched, 'copy', signal)
        continue
      }
      const switched = await runScript(this.context.redis, 'sweepKeystoreSwitchRebucket',
        [names.keystoreResetLock, names.keystoreRebucket, names.keystoreRebucketTouched, names.keystoreUnsettled,
          names.keystoreGeneration, names.keystoreConfig, names.keystoreTotal(this.state.from), names.keystoreTotal(this.state.to)],
        [this.state.to, ownBuckets(withBits(this.context, this.state.fromBits)).end]) as number
      if (switched === -1) throw this.lockLost()
      if (switched === 1) {
        this.state = { ...this.state, phase: 'switched' }
        return
      }
      await sleep(50, undefined, { signal })
    }
  }

  /** Merges what lands in the old generation after the switch, until drainMs pass with nothing new. */
  private async drain(drainMs: number, signal: AbortSignal | undefined, report: (touched: number) => Promise<void>): Promise<void> {
    let quietSince = performance.now()
    while (performance.now() - quietSince < drainMs) {
      const touched = await this.survey(signal, report)
      if (touched.length > 0) {
        await this.copy(touched, 'merge', signal)
        quietSince = performance.now()
      }
      await sleep(Math.min(500, drainMs, this.lockTtlMs / 3), undefined, { signal })
    }
  }

  /** Copies (or merges) old buckets in batches, the lock renewed before each. */
  private async copy(buckets: readonly number[], mode: 'copy' | 'merge', signal: AbortSignal | undefined): Promise<void> {
    for (let i = 0; i < buckets.length;) {
      signal?.throwIfAborted()
      await this.renewLock()
      const batch = buckets.slice(i, i + this.batchBuckets)
      await this.copyBatch(batch, mode)
      i += batch.length
    }
  }

  /**
   * Copies (or, after the switch, merges) old buckets into their children: the members read
   * in one pipeline, their children told here, one script call per bucket in a second.
   */
  private async copyBatch(buckets: readonly number[], mode: 'copy' | 'merge'): Promise<void> {
    const { redis, names } = this.context
    const { from, to, fromBits, toBits } = this.state
    const oldAt = withBits(this.context, fromBits)
    const newAt = withBits(this.context, toBits)
    const spread = toBits - fromBits
    const reads = redis.pipeline()
    for (const bucket of buckets) reads.hkeysBuffer(bucketName(oldAt, from, bucket))
    const members = await execPipeline(reads) as Buffer[][]
    const read = members.reduce((sum, bucket) => sum + bucket.length, 0)
    this.batchBuckets = Math.max(1, Math.min(MAX_BATCH_BUCKETS, Math.floor(BATCH_MEMBERS * buckets.length / Math.max(1, read))))
    const writes = redis.pipeline()
    buckets.forEach((bucket, i) => {
      const children: string[] = []
      for (let c = 0; c < 2 ** spread; c++) children.push(bucketName(newAt, to, (bucket << spread) + c))
      const blob = packByChild(members[i], fromBits, toBits)
      if (mode === 'copy') {
        queueScript(writes, 'sweepKeystoreCopyBucket',
          [bucketName(oldAt, from, bucket), names.keystoreRebucketTouched, names.keystoreResetLock, names.keystoreRebucket, ...children],
          [to, bucket, blob])
      } else {
        queueScript(writes, 'sweepKeystoreMergeBucket',
          [bucketName(oldAt, from, bucket), names.keystoreRebucketTouched, names.keystoreResetLock, names.keystoreTotal(to), ...children],
          [to, bucket, blob])
      }
    })
    const results = await execPipeline(writes) as number[]
    results.forEach((result, i) => {
      if (result === -1) throw this.lockLost()
      if (mode === 'copy' && result === 1) this.membersCopied += members[i].length
      if (mode === 'merge' && result > 0) this.membersMerged += result
    })
  }

  /**
   * One look at what needs copying again: the lock renewed, native adds that died repaired
   * (which touches their buckets; live ones hold the switch off), the touched buckets read.
   */
  private async survey(signal: AbortSignal | undefined, report: (touched: number) => Promise<void>): Promise<number[]> {
    signal?.throwIfAborted()
    await this.renewLock()
    await repairUnsettledAdds(this.context)
    const touched = await this.touched()
    await report(touched.length)
    return touched
  }

  /** The old buckets whose touched bit is set. */
  private async touched(): Promise<number[]> {
    return bitmapOffsets(await this.context.redis.getBuffer(this.context.names.keystoreRebucketTouched))
  }

  private async renewLock(): Promise<void> {
    const renewed = await runScript(this.context.redis, 'sweepKeystoreRenewReset', [this.context.names.keystoreResetLock], [this.state.to, this.lockTtlMs])
    if (renewed !== 1) throw this.lockLost()
  }

  private reporter(onProgress: RebucketRunOptions['onProgress']): (touched: number) => Promise<void> {
    let last = 0
    return async (touched) => {
      if (onProgress === undefined || performance.now() - last < PROGRESS_EVERY_MS) return
      last = performance.now()
      onProgress({ ...this.state, touched, passes: this.passes, membersCopied: this.membersCopied })
    }
  }

  private lockLost(): Error {
    return new Error(`the re-bucketing to generation ${this.state.to} lost its lock (another process took it up, or it stalled past ${this.lockTtlMs} ms); it resumes from its state in Redis`)
  }
}

async function assertRoomForCopy(context: KeystoreContext, generation: number): Promise<void> {
  // on a cluster, the master that holds this keystore (shard): its copy goes there
  const { used, max: maxmemory } = await redisMemory(context.redis, context.names.keystoreTotal(generation))
  if (maxmemory === 0) return
  const keys = Number(await context.redis.get(context.names.keystoreTotal(generation)) ?? 0)
  const needed = used + keys * COPY_BYTES_PER_KEY
  if (needed > maxmemory * MAXMEMORY_SHARE) {
    const mib = (bytes: number) => `${Math.ceil(bytes / 2 ** 20)} MiB`
    throw new Error(`the keystore needs more buckets, but Redis has no room to copy its ${keys} keys: that needs about ${mib(needed)} of its maxmemory ${mib(maxmemory)} (up to ${Math.round(MAXMEMORY_SHARE * 100)}% used); raise maxmemory (the chart's redis.maxmemory or memory limit) and the re-bucketing starts by itself`)
  }
}

/** Members grouped by child bucket, in the packed form the scripts read (see CHILDREN in rebucket-scripts.ts). */
function packByChild(members: readonly Buffer[], fromBits: number, toBits: number): Buffer {
  const children = 2 ** (toBits - fromBits)
  const groups: Buffer[][] = Array.from({ length: children }, () => [])
  let size = 2 * children
  for (const member of members) {
    groups[childOfMultihash(member, fromBits, toBits)].push(member)
    size += 2 + member.length
  }
  const blob = Buffer.allocUnsafe(size)
  let at = 0
  for (const group of groups) {
    if (group.length > 0xffff) throw new Error(`a bucket of ${group.length} members for one child: at most 65535`)
    at = blob.writeUInt16BE(group.length, at)
    for (const member of group) {
      at = blob.writeUInt16BE(member.length, at)
      at += member.copy(blob, at)
    }
  }
  return blob
}
