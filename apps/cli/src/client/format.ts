/** Number, size, duration and time formatting shared by the client subcommands, `sweep up` and the demo. */

const UNITS: ReadonlyArray<readonly [number, string]> = [[1e12, 'T'], [1e9, 'B'], [1e6, 'M'], [1e3, 'k']]

/** 950 → "950", 1234 → "1.2k", 1_250_000 → "1.3M"; one decimal below 100 of a unit, none above. */
export function formatCount(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '-'
  const sign = n < 0 ? '-' : ''
  const abs = Math.abs(n)
  for (const [size, unit] of UNITS) {
    // 999_500_000 would round to "1000M" (three-digit counts are rounded whole); promote it to the next unit instead
    if (abs >= size * 0.9995) {
      const scaled = abs / size
      return `${sign}${scaled >= 100 ? Math.round(scaled) : trimZero(scaled.toFixed(1))}${unit}`
    }
  }
  // a decimal only where it carries information: 3.4, but 185 rather than 185.2
  return `${sign}${Number.isInteger(abs) ? abs : abs >= 100 ? Math.round(abs) : trimZero(abs.toFixed(1))}`
}

/** Exact integer with thousands separators: 20000 → "20,000". */
export function formatInt(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '-'
  return Math.round(n).toLocaleString('en-US')
}

/** 1536 → "1.5 KiB". */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return '-'
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = n
  let unit = 0
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${value} B` : `${trimZero(value.toFixed(1))} ${units[unit]}`
}

/** A rate with its unit: 3.4 → "3.4 keys/min", 125_000 → "125k keys/min". */
export function formatRate(perUnit: number | null | undefined, unit: string): string {
  return `${formatCount(perUnit)} ${unit}`
}

/**
 * Human duration with the two largest units: 15_120_000 → "4h 12m", 65_000 → "1m 5s",
 * 4_200 → "4.2s", 350 → "350ms".
 */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '-'
  if (ms < 0) return `-${formatDuration(-ms)}`
  if (ms < 1000) return `${Math.round(ms)}ms`
  if (ms < 60_000) return `${trimZero((ms / 1000).toFixed(1))}s`
  const parts: Array<[number, string]> = [[86_400_000, 'd'], [3_600_000, 'h'], [60_000, 'm'], [1000, 's']]
  let rest = Math.round(ms / 1000) * 1000
  const out: string[] = []
  for (const [size, unit] of parts) {
    if (out.length === 2) break
    const amount = Math.floor(rest / size)
    rest -= amount * size
    if (amount > 0 || out.length > 0) out.push(`${amount}${unit}`)
  }
  // "2h 0m" reads worse than "2h"
  return (out.length === 2 && out[1]?.startsWith('0') ? out.slice(0, 1) : out).join(' ')
}

/** Relative to now: a future time → "in 3m", a past one → "3m ago", within a second → "now". */
export function formatRelative(at: number | null | undefined, now: number = Date.now()): string {
  if (at === null || at === undefined || !Number.isFinite(at)) return '-'
  const delta = at - now
  if (Math.abs(delta) < 1000) return 'now'
  return delta > 0 ? `in ${formatDuration(delta)}` : `${formatDuration(-delta)} ago`
}

/** ISO time (second precision) with the relative form: "2025-01-02T03:04:05Z (3m ago)". */
export function formatTime(at: number | null | undefined, now: number = Date.now()): string {
  if (at === null || at === undefined || !Number.isFinite(at) || at <= 0) return '-'
  return `${new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z')} (${formatRelative(at, now)})`
}

/** 0.934 → "93.4%". */
export function formatPercent(ratio: number | null | undefined): string {
  if (ratio === null || ratio === undefined || !Number.isFinite(ratio)) return '-'
  return `${trimZero((ratio * 100).toFixed(1))}%`
}

const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** Parses "30s", "5m", "22h", "1h30m", "500ms", "1.5h"; a bare number means seconds. */
export function parseDuration(text: string): number {
  const trimmed = text.trim()
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1000
  const pattern = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g
  let total = 0
  let consumed = 0
  for (const match of trimmed.matchAll(pattern)) {
    if (match.index !== consumed) break
    total += Number(match[1]) * (DURATION_UNITS[match[2] as string] as number)
    consumed += match[0].length
  }
  if (consumed === 0 || consumed !== trimmed.length) {
    throw new Error(`"${text}" is not a duration (use e.g. 500ms, 30s, 5m, 22h, 1h30m)`)
  }
  return total
}

/** Nearest-rank percentile of unsorted values; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number
}

function trimZero(text: string): string {
  return text.endsWith('.0') ? text.slice(0, -2) : text
}
