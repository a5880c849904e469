import { InvalidArgumentError } from 'commander'
import pino, { type Logger } from 'pino'

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const BYTE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1e3, kb: 1e3, kib: 1024, m: 1e6, mb: 1e6, mib: 1024 ** 2, g: 1e9, gb: 1e9, gib: 1024 ** 3 }

/** '22h', '5m', '90s', '1h30m', '250ms' → milliseconds. */
export function parseDuration(value: string): number {
  const parts = [...value.trim().matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)]
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== value.trim()) {
    throw new InvalidArgumentError(`expected a duration like 22h, 5m, 90s or 1h30m, got "${value}"`)
  }
  const ms = parts.reduce((sum, p) => sum + Number(p[1]) * DURATION_UNITS[p[2]], 0)
  if (ms <= 0) throw new InvalidArgumentError(`duration must be positive, got "${value}"`)
  return ms
}

/** '64MiB', '4mb', '1048576' → bytes. */
export function parseBytes(value: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(value.trim())
  const unit = match ? BYTE_UNITS[match[2].toLowerCase()] : undefined
  if (!match || unit === undefined) throw new InvalidArgumentError(`expected a size like 64MiB or 4MB, got "${value}"`)
  return Math.floor(Number(match[1]) * unit)
}

export function positiveInt(value: string): number {
  const n = Number(value)
  if (!/^\d+$/.test(value) || n < 1) throw new InvalidArgumentError('expected a positive integer')
  return n
}

/** Variadic flags and their env twins both accept comma- or space-separated lists. */
export function collectList(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), ...value.split(/[\s,]+/).filter((s) => s !== '')]
}

/** 'HOST:PORT', ':PORT' or 'PORT' for a listening socket. */
export function parseListen(value: string): { host: string; port: number } {
  const match = /^(?:(.*):)?(\d+)$/.exec(value.trim())
  const port = match ? Number(match[2]) : NaN
  if (!match || port > 65535) throw new InvalidArgumentError(`expected HOST:PORT (e.g. 127.0.0.1:8080), got "${value}"`)
  const host = (match[1] ?? '').replace(/^\[(.*)\]$/, '$1')
  return { host: host === '' ? '127.0.0.1' : host, port }
}

/** JSON logs on stdout: processes run under `sweep up`, Kubernetes or systemd, which collect them. */
export function processLogger(name: string): Logger {
  return pino({ name, level: process.env.SWEEP_LOG_LEVEL ?? 'info' })
}

/** Resolves on the first SIGINT or SIGTERM. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'))
    process.once('SIGTERM', () => resolve('SIGTERM'))
  })
}
