import { isAncestorOrSelf, type Prefix } from '@sweep/keyspace'
import { refineSchedule } from '@sweep/sweep'
import type { RegionResult } from '@sweep/queue'
import type { RegionRecord } from '@sweep/store'

export interface RetryPolicy {
  readonly baseMs: number
  readonly maxMs: number
}

export const defaultRetry: RetryPolicy = { baseMs: 30_000, maxMs: 30 * 60_000 }

/** What one result changes in the schedule. */
export interface ResultUpdate {
  readonly remove: readonly Prefix[]
  /** Records to write (new regions from a split or merge, or the updated region). */
  readonly upsert: readonly RegionRecord[]
  readonly counters: Readonly<Record<string, number>>
  /** When the failed region may be tried again; absent on success. */
  readonly retryAt?: number
}

export function backoff(policy: RetryPolicy, failures: number): number {
  return Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, failures - 1))
}

/**
 * Folds a worker's result into the schedule: history for the regions it provided, the
 * schedule split or merged to the regions it found, and a retry time when it failed.
 */
export function applyResult(regions: ReadonlyMap<Prefix, RegionRecord>, result: RegionResult, policy: RetryPolicy): ResultUpdate {
  const { report } = result
  const prefix = result.job.prefix
  const now = result.finishedAt
  // the job may predate a split: its region is now several entries
  const touched = [...regions.values()].filter((r) => isAncestorOrSelf(prefix, r.prefix))
  if (report === undefined || !report.succeeded) {
    const failures = Math.max(0, ...touched.map((r) => r.failures)) + 1
    return {
      remove: [],
      upsert: touched.map((r) => ({ ...r, lastAttempt: now, outcome: 'failed', failures })),
      counters: { regionsFailed: 1, ...(report ? sent(report) : {}) },
      retryAt: now + backoff(policy, failures)
    }
  }
  const outcome = report.mode === 'empty' ? 'empty' : 'ok'
  const provided = new Map(touched.map((r) => [r.prefix, {
    ...r,
    lastReprovide: now,
    lastAttempt: now,
    outcome,
    failures: 0,
    ...(r.prefix === prefix ? { keys: report.keys, peers: report.peersReached, recordsSent: report.recordsSent, lookups: report.lookups, durationMs: report.durationMs } : {})
  } satisfies RegionRecord]))
  const counters = { [outcome === 'ok' ? 'regionsOk' : 'regionsEmpty']: 1, ...sent(report) }
  const change = refineSchedule(regions.keys(), report)
  if (change.remove.length === 0) return { remove: [], upsert: [...provided.values()], counters }

  const current = (p: Prefix): RegionRecord | undefined => provided.get(p) ?? regions.get(p)
  const removed = change.remove.map(current).filter((r) => r !== undefined)
  // A merge with a part never provided would make the whole region due at once and send
  // this job's keys again; the part's own job merges them later, with nothing to repeat.
  const merging = change.add.length === 1 && isAncestorOrSelf(change.add[0], prefix) && change.add[0] !== prefix
  if (merging && removed.some((r) => r.lastReprovide === undefined)) return { remove: [], upsert: [...provided.values()], counters }
  const peersOf = new Map(report.regions.map((r) => [r.prefix, r.peers]))
  const added = change.add.map((p): RegionRecord => {
    const parts = removed.filter((r) => isAncestorOrSelf(p, r.prefix))
    const whole = removed.find((r) => isAncestorOrSelf(r.prefix, p))
    // a merged region is as fresh as its stalest part; a split one inherits its parent's history
    const history = parts.length > 0 ? parts.reduce((a, b) => ((a.lastReprovide ?? 0) <= (b.lastReprovide ?? 0) ? a : b)) : whole
    return {
      prefix: p,
      lastReprovide: history?.lastReprovide,
      lastAttempt: now,
      outcome: parts.length > 0 ? mergedOutcome(parts) : history?.outcome,
      failures: 0,
      keys: parts.length > 0 ? parts.reduce((s, r) => s + r.keys, 0) : 0,
      peers: peersOf.get(p) ?? 0,
      recordsSent: 0,
      lookups: 0,
      durationMs: 0
    }
  })
  const untouched = [...provided.values()].filter((r) => !change.remove.includes(r.prefix))
  return { remove: change.remove, upsert: [...added, ...untouched], counters }
}

/**
 * A merged region failed if a part did, and holds keys if a part does: a part a catch-up
 * found empty must not show a region just provided as empty.
 */
function mergedOutcome(parts: readonly RegionRecord[]): RegionRecord['outcome'] {
  const outcomes = new Set(parts.map((r) => r.outcome))
  if (outcomes.has('failed')) return 'failed'
  if (outcomes.has('ok')) return 'ok'
  return outcomes.has('empty') ? 'empty' : undefined
}

function sent(report: NonNullable<RegionResult['report']>): Record<string, number> {
  return {
    recordsSent: report.recordsSent,
    recordsFailed: report.recordsFailed,
    recordsReplaced: report.recordsReplaced ?? 0,
    keysProvided: report.succeeded ? report.keys : 0,
    lookups: report.lookups,
    peersReached: report.peersReached,
    peersFailed: report.peersFailed
  }
}

/**
 * The longest any region has gone without a provide, in seconds: what a "falling behind"
 * alert compares with the interval. A region never provided counts from the cycle start.
 */
export function oldestRegionAgeS(regions: ReadonlyMap<Prefix, RegionRecord>, cycleStart: number | undefined, now: number): number {
  let oldest = 0
  for (const region of regions.values()) {
    const since = region.lastReprovide ?? cycleStart
    if (since !== undefined) oldest = Math.max(oldest, now - since)
  }
  return oldest / 1000
}
