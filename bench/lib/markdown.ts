import { existsSync, readFileSync, writeFileSync } from 'node:fs'

/** A GitHub-flavoured markdown table. */
export function markdownTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n')
}

/**
 * Replaces one benchmark's section of BENCHMARKS.md (between its markers), keeping
 * every other benchmark's section as it was.
 */
export function writeSection(file: string, name: string, body: string): void {
  const start = `<!-- ${name}:start -->`
  const end = `<!-- ${name}:end -->`
  const section = `${start}\n${body.trim()}\n${end}`
  const current = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n\nEach section is rewritten by the benchmark named in it; the command that made it is given.\n'
  const at = current.indexOf(start)
  const until = current.indexOf(end)
  const next = at >= 0 && until > at ? current.slice(0, at) + section + current.slice(until + end.length) : `${current.trimEnd()}\n\n${section}\n`
  writeFileSync(file, next)
}

export function formatDuration(ms: number): string {
  const s = ms / 1000
  if (s < 60) return `${s.toFixed(1)} s`
  const m = s / 60
  if (m < 60) return `${m.toFixed(1)} min`
  const h = m / 60
  if (h < 48) return `${h.toFixed(1)} h`
  return `${(h / 24).toFixed(1)} d`
}

export function formatCount(n: number): string {
  if (n >= 1e6) return `${+(n / 1e6).toFixed(2)}M`
  if (n >= 1e4) return `${+(n / 1e3).toFixed(1)}k`
  return String(Math.round(n))
}

export function peakRssMiB(): number {
  return Math.round(process.resourceUsage().maxRSS / 1024)
}
