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
  /** Records of re-sweeps: sent again soon after a job in which many of the region's peers failed. */
  readonly recordsResent: Counter
  readonly keysFailed: Counter
  /** Coordinator: how long since a region's previous provide when it is provided again. */
  readonly regionAgeAtProvide: Histogram
  /** Coordinator: the longest any region has gone without a provide. */
  readonly oldestRegionAge: Gauge
  /** Coordinator: Redis' used_memory (with sweep_keys: bytes per key). */
  readonly redisMemory: Gauge
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
  readonly cycleRegionsDone: Gauge
  readonly interval: Gauge
  readonly keysAdded: Counter
  readonly activeJobs: Gauge
  /** Feeds the job, record, peer and lookup counters and the duration histogram from one report. */
  observeReport(report: RegionReport, reason: string): void
  /** A region job whose handler threw: counts it with outcome 'error'. */
  observeError(reason: string): void
}

/**
 * A region is provided once per interval (22 h by default; records live 48 h): buckets around
 * it show how late the schedule runs, up to records expiring.
 */
export const REGION_AGE_BUCKETS = [1, 6, 12, 18, 20, 22, 23, 24, 26, 30, 36, 48].map((hours) => hours * 3600)

/** Region jobs run from a fraction of a second (empty regions) to minutes (big regions on a slow network). */
export const REGION_DURATION_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600]

export function outcomeOf(report: RegionReport): RegionOutcome {
  if (report.mode === 'empty') return 'empty'
  return report.succeeded ? 'ok' : 'failed'
}

/**
 * The metrics of one process. A worker's carry its id as the `worker` label, so a
 * dashboard tells workers apart by what they say of themselves, not by pod names.
 */
export function createMetrics(role: Role, options: { workerId?: string } = {}): SweepMetrics {
  const registry = new Registry()
  registry.setDefaultLabels(role === 'worker' && options.workerId !== undefined ? { role, worker: options.workerId } : { role })
  collectDefaultMetrics({ register: registry, prefix: 'sweep_' })
  const registers = [registry]
  // what only the coordinators know (the set, the schedule, the queue) is not exported, empty, by workers
  const coordinatorOnly = role === 'coordinator' ? registers : []
  const counter = (name: string, help: string, to = registers): Counter => new Counter({ name, help, registers: to })
  const gauge = (name: string, help: string, to = registers): Gauge => new Gauge({ name, help, registers: to })

  const regionJobs = new Counter({
    name: 'sweep_region_jobs_total',
    help: 'Region jobs finished, by reason and outcome (ok, failed: too few peers took records, empty: no keys, error: the job threw)',
    labelNames: ['reason', 'outcome'] as const,
    registers
  })
  const metrics = {
    registry,
    keys: gauge('sweep_keys', 'Keys in the reprovide set', coordinatorOnly),
    regions: gauge('sweep_regions', 'Prefixes in the schedule', coordinatorOnly),
    regionJobs,
    recordsSent: counter('sweep_records_sent_total', 'ADD_PROVIDER records a peer accepted'),
    recordsFailed: counter('sweep_records_failed_total', 'ADD_PROVIDER records that could not be sent'),
    recordsReplaced: counter('sweep_records_replaced_total', 'Records sent to the next closest live peer because a closer peer failed'),
    recordsResent: counter('sweep_records_resent_total', 'Records sent again by re-sweeps, soon after a job in which many of the region\'s peers failed'),
    keysFailed: counter('sweep_keys_failed_total', 'Keys of region jobs that failed (too few peers took their records); the region is retried'),
    regionAgeAtProvide: new Histogram({
      name: 'sweep_region_age_at_provide_seconds',
      help: 'Time since a region\'s previous provide when it is provided again: the interval when on time, more when late',
      buckets: REGION_AGE_BUCKETS,
      registers: coordinatorOnly
    }),
    oldestRegionAge: gauge('sweep_oldest_region_age_seconds', 'Longest time any region of the schedule has gone without a provide (since the cycle start for one never provided)', coordinatorOnly),
    redisMemory: gauge('sweep_redis_used_memory_bytes', 'Redis used_memory (INFO memory; on a Redis Cluster, summed over its masters)', coordinatorOnly),
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
    queueJobs: new Gauge({ name: 'sweep_queue_jobs', help: 'Region jobs in the queue, by BullMQ state', labelNames: ['state'] as const, registers: coordinatorOnly }),
    workers: gauge('sweep_workers', 'Workers seen recently', coordinatorOnly),
    isLeader: gauge('sweep_is_leader', '1 while this coordinator holds the leader lease', coordinatorOnly),
    cycleOffset: gauge('sweep_cycle_offset_seconds', 'Position in the current reprovide cycle', coordinatorOnly),
    cycleRegionsDone: gauge('sweep_cycle_regions_done', 'Regions provided since the current cycle began (of sweep_regions)', coordinatorOnly),
    interval: gauge('sweep_interval_seconds', 'The reprovide interval: every region is provided once per interval', coordinatorOnly),
    keysAdded: counter('sweep_keys_added_total', 'Keys added to the reprovide set', coordinatorOnly),
    activeJobs: gauge('sweep_active_jobs', 'Region jobs running on this process'),
    observeReport(report: RegionReport, reason: string): void {
      regionJobs.inc({ reason, outcome: outcomeOf(report) })
      metrics.recordsSent.inc(report.recordsSent)
      metrics.recordsFailed.inc(report.recordsFailed)
      metrics.recordsReplaced.inc(report.recordsReplaced ?? 0)
      if (reason === 'resweep') metrics.recordsResent.inc(report.recordsSent)
      if (report.succeeded && report.mode !== 'empty') metrics.keysProvided.inc(report.keys)
      else if (report.mode !== 'empty') metrics.keysFailed.inc(report.keys)
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
