import { isAncestorOrSelf, PrefixTrie, slotOffset, type KadKey, type Prefix } from '@sweep/keyspace'
import type { RegionReport } from './report.ts'

/** What the scheduler needs to know of a region. */
export interface ScheduledRegion {
  readonly prefix: Prefix
  /** When the region's records last went out successfully (ms epoch). */
  readonly lastReprovide?: number
}

export interface CycleClock {
  /** Persisted start of the first cycle: slots are offsets from it, so a restart keeps the rhythm. */
  readonly cycleStart: number
  readonly intervalMs: number
  /** The provider's kad key: regions are swept in XOR order from it. */
  readonly self: KadKey
}

export type DueReason = 'reprovide' | 'catch-up'

export interface DueRegion {
  readonly prefix: Prefix
  readonly reason: DueReason
  readonly cycle: number
}

export function cycleNumber(clock: CycleClock, now: number): number {
  return Math.max(0, Math.floor((now - clock.cycleStart) / clock.intervalMs))
}

/** When the region's slot falls in the given cycle. */
export function slotTime(clock: CycleClock, prefix: Prefix, cycle: number): number {
  return clock.cycleStart + cycle * clock.intervalMs + slotOffset(prefix, clock.self, clock.intervalMs)
}

/**
 * Regions to enqueue now. A region whose slot in this cycle has passed is due unless it
 * went out after that slot (a burst provide counts). A region never provided, or not for a
 * whole interval (the cluster was down), is caught up at once instead of waiting a cycle.
 */
export function dueRegions(regions: Iterable<ScheduledRegion>, clock: CycleClock, now: number): DueRegion[] {
  const cycle = cycleNumber(clock, now)
  const due: DueRegion[] = []
  for (const region of regions) {
    const last = region.lastReprovide
    if (last === undefined || now - last >= clock.intervalMs) {
      due.push({ prefix: region.prefix, reason: 'catch-up', cycle })
      continue
    }
    const slot = slotTime(clock, region.prefix, cycle)
    if (now >= slot && last < slot) due.push({ prefix: region.prefix, reason: 'reprovide', cycle })
  }
  return due
}

/** The next time some region becomes due, for the scheduler to sleep until; undefined when there are no regions. */
export function nextSlot(regions: Iterable<ScheduledRegion>, clock: CycleClock, now: number): { prefix: Prefix; at: number } | undefined {
  const cycle = cycleNumber(clock, now)
  let next: { prefix: Prefix; at: number } | undefined
  for (const region of regions) {
    let at = slotTime(clock, region.prefix, cycle)
    if (at <= now) at = slotTime(clock, region.prefix, cycle + 1)
    if (region.lastReprovide !== undefined) at = Math.max(at, region.lastReprovide + 1)
    if (!next || at < next.at) next = { prefix: region.prefix, at }
  }
  return next
}

export interface ScheduleChange {
  readonly remove: readonly Prefix[]
  readonly add: readonly Prefix[]
}

/**
 * Fits the schedule (a set of prefixes partitioning the keyspace) to the regions a job
 * found, so each job covers one region: a prefix that turned out to hold several regions
 * is split into them, and prefixes inside a region that needed widening are merged into it.
 * Only proven reports change the schedule: a partial exploration may have missed peers.
 */
export function refineSchedule(schedule: Iterable<Prefix>, report: RegionReport): ScheduleChange {
  if (report.mode !== 'sweep' || !report.complete || report.regions.length === 0) return { remove: [], add: [] }
  const current = new PrefixTrie<true>()
  for (const prefix of schedule) current.set(prefix, true)
  if (!current.has(report.prefix)) return { remove: [], add: [] }

  const enclosing = report.regions.find((r) => isAncestorOrSelf(r.prefix, report.prefix))
  if (enclosing) {
    if (enclosing.prefix === report.prefix) return { remove: [], add: [] }
    // the schedule is a partition holding report.prefix, so the entries under the region cover it whole
    const inside = [...current.entriesUnder(enclosing.prefix)].map(([prefix]) => prefix)
    return { remove: inside, add: [enclosing.prefix] }
  }

  const found = new PrefixTrie<true>()
  for (const region of report.regions) {
    if (isAncestorOrSelf(report.prefix, region.prefix)) found.set(region.prefix, true)
  }
  if (found.size === 0) return { remove: [], add: [] }
  const parts = [...found.entriesUnder(report.prefix)].map(([prefix]) => prefix)
  return { remove: [report.prefix], add: [...parts, ...found.gaps(report.prefix)].sort() }
}

/** Applies a change to a schedule held as a set. */
export function applyScheduleChange(schedule: Set<Prefix>, change: ScheduleChange): void {
  for (const prefix of change.remove) schedule.delete(prefix)
  for (const prefix of change.add) schedule.add(prefix)
}
