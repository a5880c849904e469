import type { Logger } from 'pino'
import { PrefixTrie, prefixesOfLength, type KadKey, type Prefix } from '@sweep/keyspace'
import { cycleNumber, dueRegions, type CycleClock } from '@sweep/sweep'
import { provideJobId, regionJobId, type RegionJob, type RegionQueue, type RegionResult } from '@sweep/queue'
import type { Fence, RegionRecord, ScheduleStore } from '@sweep/store'
import { context, inSpan, trace, type SweepMetrics, type Tracing } from '@sweep/telemetry'
import { applyResult, type RetryPolicy } from './history.ts'
import { RequestTraces } from './request-traces.ts'
import { ResweepPlan, type ResweepPolicy } from './resweep.ts'

export interface SchedulerDeps {
  readonly schedule: ScheduleStore
  readonly queue: RegionQueue
  readonly metrics: SweepMetrics
  readonly tracer: Tracing['tracer']
  readonly log: Logger
  readonly fence: Fence
  readonly intervalMs: number
  readonly self: KadKey
  readonly retry: RetryPolicy
  readonly resweep: ResweepPolicy
  /** A job with no result after this long is taken as lost and may be enqueued again. */
  readonly inflightTimeoutMs: number
  readonly now?: () => number
  /** Exact key count under a prefix, for regions a split or merge creates. */
  readonly countKeys: (prefix: Prefix) => Promise<number>
}

/**
 * The leader's work: keeps the region schedule (a partition of the keyspace) in memory,
 * enqueues each region at its slot, turns new keys into burst-lane jobs, and folds
 * results back in. Memory is O(regions): keys never pass through here.
 */
export class Scheduler {
  private readonly deps: SchedulerDeps
  private readonly now: () => number
  private regions = new Map<Prefix, RegionRecord>()
  /** Regions with a job out, so no second job runs on them at once. */
  private readonly inflight = new Map<Prefix, { jobId: string; since: number }>()
  private readonly retryAt = new Map<Prefix, number>()
  private readonly resweeps: ResweepPlan
  /** Traced provide requests waiting for their regions' burst jobs. */
  private readonly requests = new RequestTraces()
  private clock?: CycleClock

  constructor(deps: SchedulerDeps) {
    this.deps = deps
    this.now = deps.now ?? Date.now
    this.resweeps = new ResweepPlan(deps.resweep)
  }

  get ready(): boolean {
    return this.clock !== undefined && this.regions.size > 0
  }

  /** Loads or builds the schedule; waits for a worker's network estimate on a fresh cluster. */
  async init(signal: AbortSignal): Promise<void> {
    const { schedule, log } = this.deps
    const cycleStart = await schedule.initCycleStart(this.now())
    this.clock = { cycleStart, intervalMs: this.deps.intervalMs, self: this.deps.self }
    this.regions = await schedule.regions()
    if (this.regions.size === 0) {
      const network = await this.waitForNetwork(signal)
      if (network === undefined) return
      const fresh = prefixesOfLength(network.prefixLength).map((prefix): RegionRecord => ({
        prefix, failures: 0, keys: 0, peers: 0, recordsSent: 0, lookups: 0, durationMs: 0
      }))
      await schedule.replaceRegions([], fresh, this.deps.fence)
      this.regions = new Map(fresh.map((r) => [r.prefix, r]))
      log.info({ regions: fresh.length, prefixLength: network.prefixLength, networkSize: network.size }, 'built the schedule')
    }
    log.info({ regions: this.regions.size, cycleStart: new Date(cycleStart).toISOString() }, 'schedule loaded')
    this.deps.metrics.regions.set(this.regions.size)
  }

  private async waitForNetwork(signal: AbortSignal): Promise<{ size: number; prefixLength: number } | undefined> {
    let waited = 0
    while (!signal.aborted) {
      const network = await this.deps.schedule.network()
      if (network) return network
      if (waited++ % 30 === 0) this.deps.log.info('waiting for a worker to measure the network before building the schedule')
      await new Promise((resolve) => setTimeout(resolve, 1000))
    }
    return undefined
  }

  /** One scheduling step: queue new keys' regions, then every region whose slot has come. */
  async tick(): Promise<number> {
    if (!this.clock) return 0
    await this.flushDirty()
    const now = this.now()
    const waiting = [...this.regions.values()].filter((r) => !this.isPending(r.prefix, now))
    let queued = 0
    for (const due of dueRegions(waiting, this.clock, now)) {
      const failures = this.regions.get(due.prefix)?.failures ?? 0
      const job: RegionJob = {
        prefix: due.prefix,
        reason: failures > 0 ? 'retry' : due.reason,
        attempt: failures,
        cycle: due.cycle,
        enqueuedAt: now
      }
      await this.enqueueTraced('region.enqueue', job)
      this.inflight.set(due.prefix, { jobId: regionJobId(job), since: now })
      queued++
    }
    queued += await this.enqueueResweeps(now)
    if (queued > 0) this.deps.log.debug({ queued }, 'enqueued due regions')
    return queued
  }

  private async enqueueResweeps(now: number): Promise<number> {
    const cycle = cycleNumber(this.clock!, now)
    const due = this.resweeps.take(now, cycle, (prefix) => this.isPending(prefix, now))
    for (const { prefix, number } of due) {
      const job: RegionJob = { prefix, reason: 'resweep', attempt: number, cycle, enqueuedAt: now }
      await this.enqueueTraced('region.resweep', job)
      this.inflight.set(prefix, { jobId: regionJobId(job), since: now })
    }
    if (due.length > 0) {
      this.deps.metrics.regionsReswept.inc(due.length)
      await this.deps.schedule.addCounters({ regionsReswept: due.length })
    }
    return due.length
  }

  private isPending(prefix: Prefix, now: number): boolean {
    const out = this.inflight.get(prefix)
    if (out !== undefined && now - out.since < this.deps.inflightTimeoutMs) return true
    return (this.retryAt.get(prefix) ?? 0) > now
  }

  /** Buckets that received new keys become one burst-lane job per region. */
  private async flushDirty(): Promise<void> {
    const dirty = await this.deps.schedule.takeDirty()
    if (dirty.size === 0) return
    // after the dirty marks: a request's trace mark is written before its keys' marks
    this.requests.refresh(await this.deps.schedule.takeTraces(), this.now())
    const trie = new PrefixTrie<true>()
    for (const prefix of this.regions.keys()) trie.set(prefix, true)
    // per region, its newest mark
    const regions = new Map<Prefix, number>()
    const note = (prefix: Prefix, at: number): void => { regions.set(prefix, Math.max(at, regions.get(prefix) ?? at)) }
    for (const [bucket, at] of dirty) {
      const enclosing = trie.longestMatch(bucket)
      if (enclosing) note(enclosing.prefix, at)
      else for (const [prefix] of trie.entriesUnder(bucket)) note(prefix, at)
    }
    const busy: Prefix[] = []
    for (const [prefix, markedAt] of regions) {
      const requests = this.requests.of(prefix)
      const parent = requests.length === 0 ? undefined : trace.setSpanContext(context.active(), requests[0])
      const outcome = await inSpan(this.deps.tracer, 'region.provide', {
        parent, links: requests.map((request) => ({ context: request })), attributes: { 'sweep.prefix': prefix, 'sweep.requests': requests.length }
      }, async (span) => {
        const outcome = await this.provideOnce(prefix, markedAt)
        span.setAttribute('sweep.outcome', outcome)
        return outcome
      })
      if (outcome === 'busy') busy.push(prefix)
      else this.requests.served(prefix)
    }
    this.requests.settle()
    // a running job may have read its keys before these arrived: ask again once it is done
    if (busy.length > 0) await this.deps.schedule.markDirty(busy)
  }

  /**
   * A waiting job of the region will read the new keys anyway, and so has a running one
   * that began reading keys after they were marked. One that began before may have read
   * past them, so the region waits for it rather than run twice at once.
   */
  private async provideOnce(prefix: Prefix, markedAt: number): Promise<'queued' | 'merged' | 'busy'> {
    const { queue } = this.deps
    const jobId = this.inflight.get(prefix)?.jobId ?? provideJobId(prefix)
    const state = await queue.state(jobId)
    if (state === 'waiting' || state === 'delayed' || state === 'prioritized') return 'merged'
    if (state === 'active') {
      const readFrom = await queue.keysReadFrom(jobId)
      return readFrom !== undefined && markedAt < readFrom ? 'merged' : 'busy'
    }
    const outcome = await queue.requestProvide(prefix, this.clock ? cycleNumber(this.clock, this.now()) : 0)
    if (outcome !== 'busy') this.inflight.set(prefix, { jobId: provideJobId(prefix), since: this.now() })
    return outcome
  }

  /** The enqueue as a root span: BullMQ's add, a child of it, carries the trace to the worker. */
  private async enqueueTraced(name: string, job: RegionJob): Promise<void> {
    await inSpan(this.deps.tracer, name, { parent: context.active(), attributes: { 'sweep.prefix': job.prefix, 'sweep.reason': job.reason } }, () => this.deps.queue.enqueue(job))
  }

  private planResweeps(report: NonNullable<RegionResult['report']>, jobCycle: number): void {
    const now = this.now()
    if (report.succeeded) {
      this.resweeps.swept(report.prefix)
      const at = this.resweeps.consider(report, jobCycle, now)
      if (at !== undefined) {
        this.deps.log.warn({ prefix: report.prefix, peersFailed: report.peersFailed, peersReached: report.peersReached, resweepAt: new Date(at).toISOString() }, 'many peers of the region failed; sweeping it again soon')
      }
    }
    const cycle = this.clock ? cycleNumber(this.clock, now) : jobCycle
    const planned = this.resweeps.noteDead(report.deadPeers ?? [], this.regions, cycle, now)
    if (this.clock !== undefined) {
      const cycleBegan = this.clock.cycleStart + cycle * this.clock.intervalMs
      planned.push(...this.resweeps.churnAlarm(this.regions, { cycle, cycleBegan }, now))
    }
    if (planned.length > 0) this.deps.log.warn({ regions: planned, delayMs: this.deps.resweep.delayMs }, 'regions lost holders since their last sweep; sweeping them again soon')
  }

  /**
   * Folds one worker result into the schedule, history and stats, as a span of the region's
   * trace: under BullMQ's process span of the result, which continues the worker's run.
   */
  onResult(result: RegionResult): Promise<void> {
    const attributes = { 'sweep.prefix': result.job.prefix, 'sweep.reason': result.job.reason, 'sweep.worker': result.worker }
    return inSpan(this.deps.tracer, 'region.result', { attributes }, () => this.fold(result))
  }

  private async fold(result: RegionResult): Promise<void> {
    const { schedule, metrics, log, fence } = this.deps
    const prefix = result.job.prefix
    if (result.retrying) {
      // BullMQ runs the job again after its own backoff: the region stays in flight
      log.warn({ prefix, error: result.error, worker: result.worker }, 'region job threw; the queue retries it')
      metrics.regionJobs.inc({ reason: result.job.reason, outcome: 'error' })
      return
    }
    const providedBefore = this.regions.get(prefix)?.lastReprovide
    let update = applyResult(this.regions, result, this.deps.retry)
    if (update.remove.length > 0) {
      const upsert = await Promise.all(update.upsert.map(async (r) => (this.regions.has(r.prefix) ? r : { ...r, keys: await this.deps.countKeys(r.prefix) })))
      update = { ...update, upsert }
      await schedule.replaceRegions(update.remove, update.upsert, fence)
      for (const p of update.remove) this.regions.delete(p)
      log.info({ prefix, removed: update.remove, added: update.upsert.map((r) => r.prefix) }, 'fitted the schedule to the regions found')
    } else {
      for (const record of update.upsert) await schedule.recordRegion(record, fence)
    }
    for (const record of update.upsert) this.regions.set(record.prefix, record)
    const providedNow = this.regions.get(prefix)?.lastReprovide
    if (providedBefore !== undefined && providedNow !== undefined && providedNow > providedBefore) {
      metrics.regionAgeAtProvide.observe((providedNow - providedBefore) / 1000)
    }
    await schedule.addCounters(update.counters)
    if (update.retryAt !== undefined) {
      this.retryAt.set(prefix, update.retryAt)
      log.warn({ prefix, error: result.error, retryAt: new Date(update.retryAt).toISOString() }, 'region failed; will retry')
    } else {
      this.retryAt.delete(prefix)
    }
    // only now: a tick between the writes above would find the region neither in flight
    // nor provided, and run it again at once
    if (this.inflight.get(prefix)?.jobId === result.jobId) this.inflight.delete(prefix)
    if (result.report !== undefined) this.planResweeps(result.report, result.job.cycle)
    if (result.report) metrics.observeReport(result.report, result.job.reason)
    else metrics.regionJobs.inc({ reason: result.job.reason, outcome: 'error' })
    metrics.regions.set(this.regions.size)
  }
}
