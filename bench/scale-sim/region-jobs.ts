/**
 * Turns the schedule's regions and the calibrations into the cluster model's jobs:
 * each region's key count at a given CID total, its slot in the cycle, and its two
 * phases. Exploring is latency-bound (lookups against silent peers wait out dial
 * timeouts) with a little CPU per lookup; sending is CPU-bound per record with a
 * network floor (round trips and the servers' per-record cost) fitted from simnet.
 */
import { slotOffset, type KadKey, type Prefix } from '@sweep/keyspace'
import type { Phase, RegionJob } from './cluster-model.ts'
import type { RegionSample } from './calibrate-simnet.ts'

export interface CostModel {
  /** Worker CPU per ADD_PROVIDER record (µs). */
  readonly cpuPerRecordUs: number
  /** Worker CPU per lookup, its dials included (ms). */
  readonly cpuPerLookupMs: number
  /** Worker CPU per key read from Redis (µs). */
  readonly cpuPerKeyReadUs: number
  /** Records per key (k, less failures). */
  readonly recordsPerKey: number
  /** Network-bound send time: a + b × keys (ms). */
  readonly sendMs: { readonly a: number; readonly b: number }
  /** Explore samples by warmth: a Sweeper that just swept the neighbour reuses its proofs. */
  readonly warm: readonly RegionSample[]
  readonly cold: readonly RegionSample[]
  /** How long a Sweeper trusts what its lookups proved (s). */
  readonly coverageTtlSec: number
}

export interface JobPlan {
  readonly prefix: Prefix
  readonly keys: number
  readonly slotSec: number
}

/** Regions (keyspace order) with their keys at `cids` and their slot offsets in the interval. */
export function planRegions(regions: readonly Prefix[], cids: number, self: KadKey, intervalSec: number): JobPlan[] {
  return regions.map((prefix) => ({
    prefix,
    keys: Math.round(cids / 2 ** prefix.length),
    slotSec: slotOffset(prefix, self, intervalSec * 1000) / 1000
  }))
}

/**
 * One job per region in slot order. dueAll: every region due at 0 (a catch-up after
 * downtime, or the first cycle), still taken in slot order; otherwise each at its slot.
 */
export function regionJobs(plan: readonly JobPlan[], cost: CostModel, dueAll: boolean): RegionJob[] {
  // who last started each region (keyspace index), for explore warmth
  const startedBy = new Array<{ worker: number; at: number } | undefined>(plan.length)
  const order = plan.map((_, i) => i).sort((a, b) => plan[a].slotSec - plan[b].slotSec || a - b)
  return order.map((index) => ({
    dueSec: dueAll ? 0 : plan[index].slotSec,
    phases: (worker: number, nowSec: number): readonly Phase[] => {
      const recent = (i: number): boolean => {
        const s = startedBy[i]
        return s !== undefined && s.worker === worker && nowSec - s.at <= cost.coverageTtlSec
      }
      const warm = recent(index - 1) || recent(index + 1)
      startedBy[index] = { worker, at: nowSec }
      const samples = warm && cost.warm.length > 0 ? cost.warm : cost.cold
      const explore = samples[index % samples.length]
      const keys = plan[index].keys
      return [
        { cpuSec: (explore.lookups * cost.cpuPerLookupMs) / 1000, minSec: explore.exploreMs / 1000, redisKeys: 0 },
        {
          cpuSec: (keys * (cost.recordsPerKey * cost.cpuPerRecordUs + cost.cpuPerKeyReadUs)) / 1e6,
          minSec: Math.max(cost.sendMs.a + cost.sendMs.b * keys, 0) / 1000,
          redisKeys: keys
        }
      ]
    }
  }))
}
