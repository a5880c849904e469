/** The chart's Grafana dashboard and alert rules, as tests read them. */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parser } from '@prometheus-io/lezer-promql'
import { chart } from './helm-chart.ts'

export const DASHBOARD_FILE = join(chart, 'dashboards', 'sweep.json')
export const RULES_TEMPLATE = join(chart, 'templates', 'prometheusrule.yaml')

interface Dashboard { panels: { title: string; targets: { expr: string }[] }[] }

export function dashboard(): Dashboard {
  return JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as Dashboard
}

/** Every PromQL expression of the dashboard's panels. */
export function dashboardExprs(board: Dashboard = dashboard()): string[] {
  return board.panels.flatMap((panel) => panel.targets.map((target) => target.expr))
}

/** Grafana's variables replaced by what they stand for, so Prometheus' own grammar can read the query. */
export function asPromql(expr: string): string {
  return expr.replaceAll('$__rate_interval', '5m').replaceAll('$namespace', 'sweep')
}

/** The syntax errors Prometheus' PromQL grammar (@prometheus-io/lezer-promql) finds, as "at N: …" lines. */
export function promqlErrors(expr: string): string[] {
  const errors: string[] = []
  parser.parse(expr).iterate({
    enter: (node) => {
      if (node.type.isError) errors.push(`at ${node.from}: ${JSON.stringify(expr.slice(Math.max(0, node.from - 10), node.to + 10))}`)
    }
  })
  return errors
}

/** The sweep_* series the dashboard and the alert rules read. */
export function metricNamesRead(): string[] {
  const text = dashboardExprs().join('\n') + readFileSync(RULES_TEMPLATE, 'utf8')
  return [...new Set(text.match(/\bsweep_[a-z_]+/g) ?? [])].sort()
}
