import type { Prefix } from '@sweep/keyspace'
import type { RegionRecord } from '@sweep/store'
import { statsView, type ViewDeps } from './views.ts'

/** Throughput is shown per minute over the last hour. */
export const THROUGHPUT_BUCKET_MS = 60_000
export const THROUGHPUT_BUCKETS = 60
/** Failures the dashboard lists, newest first. */
const FAILURES_SHOWN = 20
/** Running jobs it lists: what each worker is doing. */
const RUNNING_SHOWN = 1000

interface CounterSample {
  readonly at: number
  readonly keys: number
  readonly records: number
}

export interface FailureSeen {
  readonly prefix: Prefix
  readonly at: number
  readonly failures: number
  readonly keys: number
}

/**
 * What the dashboard shows that Redis does not keep: the provide counters sampled over the last
 * hour, and region failures seen since this process started. It lives in this coordinator's
 * memory, so each coordinator's dashboard starts empty; the counters it samples are the
 * cluster's, so any coordinator's rates are the whole cluster's.
 */
export class DashboardMemory {
  readonly #samples: CounterSample[] = []
  readonly #failures = new Map<string, FailureSeen>()

  /** Takes a sample of the cluster-wide counters. */
  note(now: number, counters: Readonly<Record<string, number>>): void {
    const last = this.#samples.at(-1)
    if (last !== undefined && now <= last.at) return
    this.#samples.push({ at: now, keys: counters.keysProvided ?? 0, records: counters.recordsSent ?? 0 })
    // one sample older than the window stays: it is the base of the oldest bucket's difference
    const from = now - THROUGHPUT_BUCKETS * THROUGHPUT_BUCKET_MS
    while (this.#samples.length > 2 && this.#samples[1].at <= from) this.#samples.shift()
  }

  /** Keys and records provided per minute bucket over the last hour, oldest first. */
  throughput(now: number): { bucketMs: number; from: number; since: number | null; keys: number[]; records: number[] } {
    const from = (Math.floor(now / THROUGHPUT_BUCKET_MS) - THROUGHPUT_BUCKETS + 1) * THROUGHPUT_BUCKET_MS
    const keys = new Array<number>(THROUGHPUT_BUCKETS).fill(0)
    const records = new Array<number>(THROUGHPUT_BUCKETS).fill(0)
    for (let i = 1; i < this.#samples.length; i++) {
      const [a, b] = [this.#samples[i - 1], this.#samples[i]]
      const bucket = Math.floor((b.at - from) / THROUGHPUT_BUCKET_MS)
      if (bucket < 0 || bucket >= THROUGHPUT_BUCKETS) continue
      // a counter that went down was reset (a test flushing Redis): count nothing, not a negative rate
      keys[bucket] += Math.max(0, b.keys - a.keys)
      records[bucket] += Math.max(0, b.records - a.records)
    }
    return { bucketMs: THROUGHPUT_BUCKET_MS, from, since: this.#samples[0]?.at ?? null, keys, records }
  }

  /**
   * Remembers the regions whose last attempt failed, so a failure stays listed after the
   * region's retry succeeds and the schedule forgets it; the newest are returned.
   */
  failures(regions: Iterable<RegionRecord>): FailureSeen[] {
    for (const r of regions) {
      if (r.outcome !== 'failed' || r.lastAttempt === undefined) continue
      this.#failures.set(`${r.prefix}@${r.lastAttempt}`, { prefix: r.prefix, at: r.lastAttempt, failures: r.failures, keys: r.keys })
    }
    const newest = [...this.#failures.values()].sort((a, b) => b.at - a.at).slice(0, FAILURES_SHOWN)
    if (this.#failures.size > FAILURES_SHOWN) {
      this.#failures.clear()
      for (const f of newest) this.#failures.set(`${f.prefix}@${f.at}`, f)
    }
    return newest
  }
}

/**
 * `GET /v1/dashboard` and each `/v1/events` message: the stats as `/v1/stats` gives them (so the
 * page's numbers are the API's), every region for the ring, the jobs the workers run, the last
 * hour's throughput and the last failures.
 */
export interface DashboardRegion {
  readonly prefix: Prefix
  readonly keys: number
  readonly peers: number
  readonly lastReprovide: number | null
  readonly outcome: RegionRecord['outcome'] | null
  readonly failures: number
}

export interface DashboardSnapshot {
  readonly regions: readonly DashboardRegion[]
  readonly [part: string]: unknown
}

/**
 * An `update` event: the snapshot with, instead of every region, those that changed since the
 * previous one (`changed`) and those gone (`removed`, after a split or merge).
 */
export function dashboardUpdate(previous: DashboardSnapshot, next: DashboardSnapshot): object {
  const before = new Map(previous.regions.map((r) => [r.prefix, r]))
  const changed = next.regions.filter((r) => {
    const was = before.get(r.prefix)
    return was === undefined || was.keys !== r.keys || was.peers !== r.peers || was.lastReprovide !== r.lastReprovide ||
      was.outcome !== r.outcome || was.failures !== r.failures
  })
  const now = new Set(next.regions.map((r) => r.prefix))
  const { regions: _regions, ...rest } = next
  return { ...rest, changed, removed: previous.regions.filter((r) => !now.has(r.prefix)).map((r) => r.prefix) }
}

export async function dashboardView(deps: ViewDeps, memory: DashboardMemory, now: number): Promise<DashboardSnapshot> {
  const [stats, regionMap, counters, running] = await Promise.all([
    statsView(deps, now), deps.schedule.regions(), deps.schedule.counters(), deps.queue.running(RUNNING_SHOWN)
  ])
  memory.note(now, counters)
  const regions = [...regionMap.values()].sort((a, b) => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0))
  return {
    at: now,
    intervalMs: deps.intervalMs,
    stats,
    regions: regions.map((r): DashboardRegion => ({
      prefix: r.prefix, keys: r.keys, peers: r.peers, lastReprovide: r.lastReprovide ?? null, outcome: r.outcome ?? null, failures: r.failures
    })),
    running,
    throughput: memory.throughput(now),
    failures: memory.failures(regions)
  }
}
