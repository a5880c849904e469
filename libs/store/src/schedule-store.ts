import type { Redis } from 'ioredis'
import { parsePrefix, type Prefix } from '@sweep/keyspace'
import { DEFAULT_NAMESPACE, storeKeys, type StoreKeys } from './names.ts'
import { defineScripts, execPipeline, runScript } from './scripts.ts'

/** Any mark in microseconds since 1970 is past this; one in milliseconds is not before the year 5000. */
const MICROSECOND_MARKS = 1e14

/** Proof of leadership for writes that only the current leader may make. */
export interface Fence {
  readonly leaderId: string
  /** The lease epoch when this leader was elected; grows with every election. */
  readonly token: number
}

export class FencedOutError extends Error {
  readonly fence: Fence
  constructor(fence: Fence, what: string) {
    super(`${what} refused: leader ${fence.leaderId} with token ${fence.token} no longer holds the lease`)
    this.name = 'FencedOutError'
    this.fence = fence
  }
}

export type RegionOutcome = 'ok' | 'failed' | 'empty'

export interface RegionRecord {
  readonly prefix: Prefix
  /** ms epoch of the last successful provide of this region. */
  readonly lastReprovide?: number
  readonly lastAttempt?: number
  readonly outcome?: RegionOutcome
  /** Consecutive failures. */
  readonly failures: number
  readonly keys: number
  readonly peers: number
  readonly recordsSent: number
  readonly lookups: number
  readonly durationMs: number
}

export interface NetworkInfo {
  readonly size: number
  readonly prefixLength: number
  readonly measuredAt: number
  readonly by: string
}

export interface WorkerInfo {
  readonly id: string
  readonly lastSeen: number
  readonly [field: string]: unknown
}

const OUTCOMES: readonly string[] = ['ok', 'failed', 'empty']
const COUNTS = ['failures', 'keys', 'peers', 'recordsSent', 'lookups', 'durationMs'] as const

/**
 * The coordinator's durable state: cycle start, network estimate, the schedule of
 * regions with their history, regions waiting for a provide, worker heartbeats and
 * stats counters. Schedule writes are fenced by the leader lease.
 */
export class ScheduleStore {
  private readonly redis: Redis
  private readonly names: StoreKeys
  /** The hashes dirty marks are written to: the namespace's, then each keystore shard's. */
  private readonly dirtyHashes: readonly string[]

  /**
   * With keystoreShards above 1 (a ShardedKeystore's shards.length), takeDirty also takes
   * the marks each shard's adds write beside its keys.
   */
  constructor(redis: Redis, namespace: string = DEFAULT_NAMESPACE, options: { keystoreShards?: number } = {}) {
    this.redis = redis
    this.names = storeKeys(namespace)
    const shards = options.keystoreShards ?? 1
    this.dirtyHashes = [this.names.dirty, ...(shards > 1 ? Array.from({ length: shards }, (_, shard) => storeKeys(namespace, { index: shard, count: shards }).dirty) : [])]
    defineScripts(redis)
  }

  async cycleStart(): Promise<number | undefined> {
    const value = await this.redis.get(this.names.cycleStart)
    return value === null ? undefined : Number(value)
  }

  /** Sets the cycle start unless one is persisted already; returns the persisted one. */
  async initCycleStart(now: number): Promise<number> {
    if (!Number.isFinite(now)) throw new Error(`cycle start: expected a ms timestamp, got ${now}`)
    await this.redis.set(this.names.cycleStart, String(now), 'NX')
    return Number(await this.redis.get(this.names.cycleStart))
  }

  async network(): Promise<NetworkInfo | undefined> {
    const value = await this.redis.get(this.names.network)
    return value === null ? undefined : JSON.parse(value) as NetworkInfo
  }

  async setNetwork(info: NetworkInfo): Promise<void> {
    await this.redis.set(this.names.network, JSON.stringify(info))
  }

  async regions(): Promise<Map<Prefix, RegionRecord>> {
    const entries = await this.redis.hgetall(this.names.schedule)
    const regions = new Map<Prefix, RegionRecord>()
    for (const prefix of Object.keys(entries).sort()) regions.set(prefix, parseRegion(prefix, entries[prefix]))
    return regions
  }

  /** Removes and adds schedule regions in one step, if fence still holds the lease. */
  async replaceRegions(remove: readonly Prefix[], add: readonly RegionRecord[], fence: Fence): Promise<void> {
    for (const prefix of remove) parsePrefix(prefix, 'remove')
    await this.fencedWrite(fence, remove, add, 'replaceRegions')
  }

  async recordRegion(record: RegionRecord, fence: Fence): Promise<void> {
    await this.fencedWrite(fence, [], [record], `recordRegion(${JSON.stringify(record.prefix)})`)
  }

  /** Notes regions holding keys that await a provide job, at Redis' clock (see takeDirty). */
  async markDirty(prefixes: readonly Prefix[]): Promise<void> {
    if (prefixes.length === 0) return
    for (const prefix of prefixes) parsePrefix(prefix, 'dirty prefix')
    await runScript(this.redis, 'sweepMarkDirty', [this.names.dirty], prefixes)
  }

  /**
   * Tells the leader, wherever it runs, that dirty marks are waiting, so new keys go out
   * without waiting for its next tick. Call after the marks are written. Best effort: a
   * leader that misses it (reconnecting, just elected) still finds the marks on its tick.
   */
  async announceDirty(): Promise<void> {
    await this.redis.publish(this.names.dirtyWake, '1')
  }

  /**
   * The dirty marks, cleared in the same step so a mark made meanwhile is never lost: each
   * prefix with the Redis time (µs) of its newest mark. Keys are stored no later than their
   * mark, so a job that began reading keys after it has them.
   */
  async takeDirty(): Promise<Map<Prefix, number>> {
    // one transaction per hash: on a cluster the shards' hashes are in different slots
    const taken = await Promise.all(this.dirtyHashes.map(async (hash) => (await execPipeline(this.redis.multi().hgetall(hash).del(hash)))[0] as Record<string, string>))
    // a mark written before marks held microseconds (a millisecond count) dates nothing
    const time = (at: string): number => (Number(at) >= MICROSECOND_MARKS ? Number(at) : Number.POSITIVE_INFINITY)
    const marks = new Map<Prefix, number>()
    for (const hash of taken) for (const [prefix, at] of Object.entries(hash)) marks.set(prefix, Math.max(marks.get(prefix) ?? 0, time(at)))
    return new Map([...marks].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
  }

  /**
   * Notes the traced request whose keys are about to mark these prefixes dirty, so the burst
   * job that provides them links to its span. Written before the keys, so whoever takes their
   * marks finds it; the newest request per prefix wins.
   */
  async markTraces(prefixes: readonly Prefix[], traceparent: string): Promise<void> {
    if (prefixes.length === 0) return
    for (const prefix of prefixes) parsePrefix(prefix, 'traced prefix')
    await this.redis.hset(this.names.dirtyTraces, Object.fromEntries(prefixes.map((prefix) => [prefix, traceparent])))
  }

  /** The request trace marks (prefix → traceparent), cleared in the same step. */
  async takeTraces(): Promise<Map<Prefix, string>> {
    const [marks] = await execPipeline(this.redis.multi().hgetall(this.names.dirtyTraces).del(this.names.dirtyTraces)) as [Record<string, string>]
    return new Map(Object.entries(marks))
  }

  async heartbeat(info: WorkerInfo, ttlMs: number): Promise<void> {
    if (!info.id) throw new Error('heartbeat: worker id is empty')
    if (!(ttlMs > 0)) throw new Error(`heartbeat: ttlMs must be positive, got ${ttlMs}`)
    await execPipeline(this.redis.multi()
      .hset(this.names.workers, info.id, JSON.stringify(info))
      .zadd(this.names.workerExpiry, info.lastSeen + ttlMs, info.id))
  }

  /** Workers whose last heartbeat is within its ttl; the others are deleted. */
  async workers(now = Date.now()): Promise<WorkerInfo[]> {
    await runScript(this.redis, 'sweepPruneWorkers', [this.names.workers, this.names.workerExpiry], [now])
    const entries = await this.redis.hgetall(this.names.workers)
    return Object.keys(entries).sort().map((id) => JSON.parse(entries[id]) as WorkerInfo)
  }

  /** Adds to the stats counters: whole numbers with HINCRBY, others with HINCRBYFLOAT. */
  async addCounters(delta: Readonly<Record<string, number>>): Promise<void> {
    const pipeline = this.redis.pipeline()
    for (const [name, value] of Object.entries(delta)) {
      if (!Number.isFinite(value)) throw new Error(`counter ${name}: expected a finite number, got ${value}`)
      if (value === 0) continue
      if (Number.isSafeInteger(value)) pipeline.hincrby(this.names.counters, name, value)
      else pipeline.hincrbyfloat(this.names.counters, name, value)
    }
    if (pipeline.length > 0) await execPipeline(pipeline)
  }

  async counters(): Promise<Record<string, number>> {
    const entries = await this.redis.hgetall(this.names.counters)
    return Object.fromEntries(Object.entries(entries).map(([name, value]) => [name, Number(value)]))
  }

  private async fencedWrite(fence: Fence, remove: readonly Prefix[], add: readonly RegionRecord[], what: string): Promise<void> {
    const pairs: string[] = []
    for (const record of add) pairs.push(parsePrefix(record.prefix, 'region prefix'), serializeRegion(record))
    const written = await runScript(this.redis, 'sweepScheduleFencedWrite',
      [this.names.lease, this.names.leaseEpoch, this.names.schedule],
      [fence.leaderId, fence.token, remove.length, ...remove, ...pairs])
    if (written !== 1) throw new FencedOutError(fence, what)
  }
}

function serializeRegion(record: RegionRecord): string {
  const { prefix: _prefix, ...rest } = record
  return JSON.stringify(rest)
}

function parseRegion(prefix: string, json: string): RegionRecord {
  const where = `schedule region ${JSON.stringify(prefix)}`
  parsePrefix(prefix, where)
  let value: Record<string, unknown>
  try {
    value = JSON.parse(json) as Record<string, unknown>
  } catch (error) {
    throw new Error(`${where}: stored value is not JSON (${(error as Error).message})`, { cause: error })
  }
  const counts: Record<string, number> = {}
  for (const field of COUNTS) {
    const n = value[field] ?? 0
    if (typeof n !== 'number') throw new Error(`${where}: ${field} should be a number, got ${JSON.stringify(n)}`)
    counts[field] = n
  }
  for (const field of ['lastReprovide', 'lastAttempt']) {
    if (value[field] !== undefined && typeof value[field] !== 'number') throw new Error(`${where}: ${field} should be a number, got ${JSON.stringify(value[field])}`)
  }
  if (value.outcome !== undefined && !OUTCOMES.includes(value.outcome as string)) {
    throw new Error(`${where}: outcome should be one of ${OUTCOMES.join(', ')}, got ${JSON.stringify(value.outcome)}`)
  }
  return {
    prefix,
    ...(value.lastReprovide !== undefined && { lastReprovide: value.lastReprovide as number }),
    ...(value.lastAttempt !== undefined && { lastAttempt: value.lastAttempt as number }),
    ...(value.outcome !== undefined && { outcome: value.outcome as RegionOutcome }),
    ...(counts as Pick<RegionRecord, typeof COUNTS[number]>)
  }
}
