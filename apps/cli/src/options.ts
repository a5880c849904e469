import { InvalidArgumentError } from 'commander'
import pino, { type Logger } from 'pino'

const BYTE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1e3, kb: 1e3, kib: 1024, m: 1e6, mb: 1e6, mib: 1024 ** 2, g: 1e9, gb: 1e9, gib: 1024 ** 3 }

/** '64MiB', '4mb', '1048576' → bytes. */
export function parseBytes(value: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(value.trim())
  const unit = match ? BYTE_UNITS[match[2].toLowerCase()] : undefined
  if (!match || unit === undefined) throw new InvalidArgumentError(`expected a size like 64MiB or 4MB, got "${value}"`)
  return Math.floor(Number(match[1]) * unit)
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

/** --keystore-shards: a power of two, as openKeystore takes it. */
export function keystoreShardsArg(value: string): number {
  const shards = Number(value)
  if (!(Number.isInteger(shards) && shards >= 1 && shards <= 1024 && Number.isInteger(Math.log2(shards)))) {
    throw new InvalidArgumentError(`expected a power of two from 1 to 1024, got "${value}"`)
  }
  return shards
}

/** --bucket-bits: the keystore's 2^n buckets, as Keystore.open takes them. */
export function bucketBitsArg(value: string): number {
  const bits = Number(value)
  if (!(Number.isInteger(bits) && bits >= 1 && bits <= 24)) throw new InvalidArgumentError(`expected an integer from 1 to 24, got "${value}"`)
  return bits
}
