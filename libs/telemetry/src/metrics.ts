import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { RegionReport } from '@sweep/sweep'

export type Role = 'coordinator' | 'worker'

/** outcome label of sweep_region_jobs_total */
export type RegionOutcome = 'ok' | 'failed' | 'empty' | 'error'

export interface SweepMetrics {
  /** Own registry, not prom-client's global one, so two roles can share a process (`sweep up`). */
  readonly registry: Registry
  readonly keys: Gauge
  readonly regions: Gauge
  readonly regionJobs: Counter<'reason' | 'outcome'>
  readonly recordsSent: Counter
  readonly recordsFailed: Counter
  readonly recordsReplaced: Counter
  readonly regionsReswept: Counter
  readonly keysProvided: Counter
  readonly lookups: Counter
  readonly peersReached: Counter
  readonly peersFailed: Counter
  readonly regionDuration: Histogram
  readonly queueJobs: Gauge<'state'>
  readonly workers: Gauge
  readonly isLeader: Gauge
  readonly cycleOffset: Gauge
  readonly keysAdded: Counter
  readonly activeJobs: Gauge
  /** Feeds the job, record, peer and lookup counters and the duration histogram from one report. */
  observeReport(report: RegionReport, reason: string): void
  /** A region job whose handler threw: counts it with outcome 'error'. */
  observeError(reason: string): void
}

/** Region jobs run from a fraction of a second (empty regions) to minutes (big regions on a slow network). */
export const REGION_DURATION_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600]

export function outcomeOf(report: RegionReport): RegionOutcome {
  if (report.mode === 'empty') return 'empty'
  return report.succeeded ? 'ok' : 'failed'
}

export function createMetrics(role: Role): SweepMetrics {
  const registry = new Registry()
  registry.setDefaultLabels({ role })
  collectDefaultMetrics({ register: registry, prefix: 'sweep_' })
  const registers = [registry]
  const counter = (name: string, help: string): Counter => new Counter({ name, help, registers })
  const gauge = (name: string, help: string): Gauge => new Gauge({ name, help, registers })

  const regionJobs = new Counter({
    name: 'sweep_region_jobs_total',
    help: 'Region jobs finished, by reason and outcome (ok, failed: too few peers took records, empty: no keys, error: the job threw)',
    labelNames: ['reason', 'outcome'] as const,
    registers
  })
  const metrics = {
    registry,
    keys: gauge('sweep_keys', 'Keys in the reprovide set'),
    regions: gauge('sweep_regions', 'Prefixes in the schedule'),
    regionJobs,
    recordsSent: counter('sweep_records_sent_total', 'ADD_PROVIDER records a peer accepted'),
    recordsFailed: counter('sweep_records_failed_total', 'ADD_PROVIDER records that could not be sent'),
    recordsReplaced: counter('sweep_records_replaced_total', 'Records sent to the next closest live peer because a closer peer failed'),
    regionsReswept: counter('sweep_regions_reswept_total', 'Regions re-explored and re-sent soon after a job in which many of their peers failed'),
    keysProvided: counter('sweep_keys_provided_total', 'Keys of regions that counted as provided (enough peers took their records)'),
    lookups: counter('sweep_lookups_total', 'GetClosestPeers lookups made to explore regions'),
    peersReached: counter('sweep_peers_reached_total', 'Peers that took their records'),
    peersFailed: counter('sweep_peers_failed_total', 'Peers that could not be reached or refused records'),
    regionDuration: new Histogram({
      name: 'sweep_region_duration_seconds',
      help: 'Time to explore one region and send its records',
      buckets: REGION_DURATION_BUCKETS,
      registers
    }),
    queueJobs: new Gauge({ name: 'sweep_queue_jobs', help: 'Region jobs in the queue, by BullMQ state', labelNames: ['state'] as const, registers }),
    workers: gauge('sweep_workers', 'Workers seen recently'),
    isLeader: gauge('sweep_is_leader', '1 while this coordinator holds the leader lease'),
    cycleOffset: gauge('sweep_cycle_offset_seconds', 'Position in the current reprovide cycle'),
    keysAdded: counter('sweep_keys_added_total', 'Keys added to the reprovide set'),
    activeJobs: gauge('sweep_active_jobs', 'Region jobs running on this process'),
    observeReport(report: RegionReport, reason: string): void {
      regionJobs.inc({ reason, outcome: outcomeOf(report) })
      metrics.recordsSent.inc(report.recordsSent)
      metrics.recordsFailed.inc(report.recordsFailed)
      metrics.recordsReplaced.inc(report.recordsReplaced ?? 0)
      if (report.succeeded && report.mode !== 'empty') metrics.keysProvided.inc(report.keys)
      metrics.lookups.inc(report.lookups)
      metrics.peersReached.inc(report.peersReached)
      metrics.peersFailed.inc(report.peersFailed)
      metrics.regionDuration.observe(report.durationMs / 1000)
    },
    observeError(reason: string): void {
      regionJobs.inc({ reason, outcome: 'error' })
    }
  }
  return metrics
}
