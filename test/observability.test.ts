/** The chart's Grafana dashboard and PrometheusRule: valid PromQL, the panels and alerts asked for. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HelmChart, type Manifest } from './lib/helm-chart.ts'
import { asPromql, dashboard, dashboardExprs, metricNamesRead, promqlErrors } from './lib/observability.ts'

const chart = new HelmChart('rel', 'sweep-obs')
let rendered: Manifest[]

beforeAll(async () => {
  await chart.start()
  rendered = await chart.render({ grafana: { dashboard: { enabled: true, folder: 'IPFS' } }, prometheusRule: { enabled: true, labels: { release: 'prom' } } })
})
afterAll(async () => { await chart.stop() })

interface Rule { alert: string; expr: string; for: string; annotations: { summary: string } }

function rules(): Rule[] {
  const rule = rendered.find((m) => m.kind === 'PrometheusRule')!
  return (rule.spec as { groups: { rules: Rule[] }[] }).groups.flatMap((group) => group.rules)
}

describe('the Grafana dashboard', () => {
  it('ships as a ConfigMap labelled for the Grafana sidecar, holding the dashboard file', () => {
    const map = rendered.find((m) => m.kind === 'ConfigMap' && m.metadata.name === 'rel-sweep-dashboard')!
    expect(map.metadata.labels).toMatchObject({ grafana_dashboard: '1' })
    expect((map.metadata as { annotations?: Record<string, string> }).annotations).toEqual({ grafana_folder: 'IPFS' })
    expect(JSON.parse((map as unknown as { data: Record<string, string> }).data['sweep.json'])).toEqual(dashboard())
  })

  it('has the panels an operator asks for, each query valid PromQL', () => {
    const titles = dashboard().panels.map((p) => p.title)
    for (const title of ['Cycle progress', 'Keys and records per second', 'Region age against the interval', 'Failures by cause',
      'Workers and their jobs', 'Queue depth', 'Lookups per region', 'Redis memory per key']) expect(titles).toContain(title)
    const exprs = dashboardExprs()
    expect(exprs.length).toBeGreaterThanOrEqual(15)
    for (const expr of exprs) expect(promqlErrors(asPromql(expr)), expr).toEqual([])
  })
})

describe('the alert rules', () => {
  it('cover falling behind, failing regions, no workers, no leader, a growing queue and failed records, each valid PromQL', () => {
    const all = rules()
    expect(all.map((r) => r.alert).sort()).toEqual(['SweepFailedRecords', 'SweepFallingBehind', 'SweepNoLeader', 'SweepNoWorkers', 'SweepQueueGrowing', 'SweepRegionsFailing'])
    for (const rule of all) {
      expect(promqlErrors(rule.expr), rule.expr).toEqual([])
      expect(rule.expr).toContain('namespace="sweep-obs"')
      expect(rule.annotations.summary.length).toBeGreaterThan(20)
    }
    expect(all.find((r) => r.alert === 'SweepFallingBehind')!.expr).toMatch(/> max\(sweep_interval_seconds\{[^}]*\}\) \+ 7200$/)
  })

  it('the PromQL check can fail', () => {
    expect(promqlErrors('sum(rate(sweep_records_sent_total[5m])')).not.toEqual([])
    expect(promqlErrors('max(sweep_keys) >')).not.toEqual([])
  })

  it('read only sweep_* series that the processes export (checked on real ones in cluster-provide.test.ts)', () => {
    const names = metricNamesRead()
    expect(names).toContain('sweep_oldest_region_age_seconds')
    expect(names).toContain('sweep_region_age_at_provide_seconds_bucket')
    expect(names.length).toBeGreaterThanOrEqual(15)
  })
})
