/** observeReport moves the right counters, read back from the registry the ops server serves. */
import { describe, expect, it } from 'vitest'
import type { RegionReport } from '@sweep/sweep'
import { createMetrics, type SweepMetrics } from '../src/index.ts'

function report(overrides: Partial<RegionReport> = {}): RegionReport {
  return {
    prefix: '0101', peerPrefix: '0101', regions: [{ prefix: '0101', peers: 24 }], mode: 'sweep', complete: true,
    keys: 100, recordsSent: 1980, recordsFailed: 20, peersFound: 24, peersReached: 23, peersFailed: 1,
    lookups: 4, durationMs: 2500, succeeded: true, ...overrides
  }
}

/** One sample's value; a histogram's samples are named like sweep_region_duration_seconds_bucket. */
async function value(metrics: SweepMetrics, sample: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const name = sample.replace(/_(bucket|sum|count)$/, '')
  const metric = metrics.registry.getSingleMetric(name) ?? metrics.registry.getSingleMetric(sample)
  if (metric === undefined) throw new Error(`no metric ${sample}`)
  const { name: metricName, values } = await metric.get()
  const wanted = Object.entries(labels)
  return values.find((v) => ((v as { metricName?: string }).metricName ?? metricName) === sample && wanted.every(([k, want]) => String(v.labels[k]) === want))?.value
}

describe('createMetrics', () => {
  it('counts a report into jobs, records, keys, peers, lookups and duration', async () => {
    const metrics = createMetrics('worker')
    metrics.observeReport(report(), 'reprovide')
    metrics.observeReport(report({ keys: 50, recordsSent: 100, recordsFailed: 900, peersReached: 2, peersFailed: 20, succeeded: false, durationMs: 40_000 }), 'reprovide')
    metrics.observeReport(report({ mode: 'empty', keys: 0, recordsSent: 0, recordsFailed: 0, peersReached: 0, peersFailed: 0, lookups: 0, durationMs: 50, succeeded: true }), 'provide')
    metrics.observeError('retry')

    expect(await value(metrics, 'sweep_region_jobs_total', { reason: 'reprovide', outcome: 'ok' })).toBe(1)
    expect(await value(metrics, 'sweep_region_jobs_total', { reason: 'reprovide', outcome: 'failed' })).toBe(1)
    expect(await value(metrics, 'sweep_region_jobs_total', { reason: 'provide', outcome: 'empty' })).toBe(1)
    expect(await value(metrics, 'sweep_region_jobs_total', { reason: 'retry', outcome: 'error' })).toBe(1)
    expect(await value(metrics, 'sweep_records_sent_total')).toBe(2080)
    expect(await value(metrics, 'sweep_records_failed_total')).toBe(920)
    // Only the region that counted as provided adds its keys.
    expect(await value(metrics, 'sweep_keys_provided_total')).toBe(100)
    // the failed region's keys, not the empty one's
    expect(await value(metrics, 'sweep_keys_failed_total')).toBe(50)
    expect(await value(metrics, 'sweep_records_resent_total')).toBe(0)
    expect(await value(metrics, 'sweep_lookups_total')).toBe(8)
    expect(await value(metrics, 'sweep_peers_reached_total')).toBe(25)
    expect(await value(metrics, 'sweep_peers_failed_total')).toBe(21)
    expect(await value(metrics, 'sweep_region_duration_seconds_count')).toBe(3)
    expect(await value(metrics, 'sweep_region_duration_seconds_sum')).toBeCloseTo(42.55, 6)
    expect(await value(metrics, 'sweep_region_duration_seconds_bucket', { le: '0.1' })).toBe(1)
    expect(await value(metrics, 'sweep_region_duration_seconds_bucket', { le: '5' })).toBe(2)
    expect(await value(metrics, 'sweep_region_duration_seconds_bucket', { le: '60' })).toBe(3)
    expect(await value(metrics, 'sweep_region_duration_seconds_bucket', { le: '600' })).toBe(3)
  })

  it('labels everything with the role, keeps node metrics under sweep_, and gives each role its own registry', async () => {
    const coordinator = createMetrics('coordinator')
    const worker = createMetrics('worker')
    coordinator.keys.set(12_345)
    coordinator.queueJobs.set({ state: 'waiting' }, 7)
    coordinator.isLeader.set(1)
    worker.activeJobs.set(3)
    const text = await coordinator.registry.metrics()
    expect(text).toContain('sweep_keys{role="coordinator"} 12345')
    expect(text).toContain('sweep_queue_jobs{state="waiting",role="coordinator"} 7')
    expect(text).toContain('sweep_is_leader{role="coordinator"} 1')
    expect(text).toMatch(/^sweep_process_cpu_user_seconds_total\{role="coordinator"\} /m)
    expect(text).toMatch(/^sweep_nodejs_heap_size_used_bytes\{role="coordinator"\} \d+/m)
    expect(text).toContain('sweep_active_jobs{role="coordinator"} 0')
    expect(await worker.registry.metrics()).toContain('sweep_active_jobs{role="worker"} 3')
    for (const name of ['sweep_regions', 'sweep_workers', 'sweep_cycle_offset_seconds', 'sweep_keys_added_total']) {
      expect(text).toContain(`# TYPE ${name} `)
    }
  })
})

describe('per role', () => {
  it('labels a worker\'s series with its id, counts re-sweeps as re-sent, and leaves the coordinators\' gauges to them', async () => {
    const worker = createMetrics('worker', { workerId: 'worker-7' })
    worker.observeReport(report(), 'resweep')
    const text = await worker.registry.metrics()
    expect(text).toMatch(/^sweep_records_resent_total\{role="worker",worker="worker-7"\} 1980$/m)
    expect(text).not.toMatch(/^# TYPE sweep_(queue_jobs|keys|oldest_region_age_seconds|interval_seconds|redis_used_memory_bytes) /m)
    const coordinator = await createMetrics('coordinator').registry.metrics()
    for (const name of ['sweep_queue_jobs', 'sweep_keys', 'sweep_oldest_region_age_seconds', 'sweep_interval_seconds', 'sweep_region_age_at_provide_seconds']) {
      expect(coordinator).toMatch(new RegExp(`^# TYPE ${name} `, 'm'))
    }
  })
})
