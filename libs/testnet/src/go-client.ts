/**
 * findProviders through go-libp2p-kad-dht's own client code (gonet
 * findprovs), which is what Kubo users run: one fresh go host looks every
 * CID up and reports each as soon as it is known.
 */
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'

export interface GoLookup {
  cid: string
  /** The provider came back with at least one address. */
  found: boolean
  ms: number
  addrs: string[]
  error?: string
}

export interface GoFindProvidersOptions {
  binary: string
  bootstrap: readonly string[]
  provider: string
  cids: readonly string[]
  protocol?: string
  timeoutMs?: number
  concurrency?: number
  signal?: AbortSignal
  onResult?: (lookup: GoLookup) => void
}

export async function goFindProviders(opts: GoFindProvidersOptions): Promise<GoLookup[]> {
  const args = [
    'findprovs', '--bootstrap', opts.bootstrap.join(','), '--provider', opts.provider,
    '--protocol', opts.protocol ?? '/ipfs/kad/1.0.0', '--timeout', `${opts.timeoutMs ?? 30_000}ms`, '--concurrency', String(opts.concurrency ?? 10)
  ]
  const child = spawn(opts.binary, args, { stdio: ['pipe', 'pipe', 'pipe'], signal: opts.signal })
  const stderr: string[] = []
  child.stderr.setEncoding('utf8').on('data', (d: string) => stderr.push(d))
  child.stdin.on('error', () => {})
  child.stdin.end(opts.cids.join('\n') + '\n')
  const results: GoLookup[] = []
  const lines = createInterface({ input: child.stdout })
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', resolve)
  })
  for await (const line of lines) {
    if (line.trim() === '') continue
    const lookup = JSON.parse(line) as GoLookup
    results.push(lookup)
    opts.onResult?.(lookup)
  }
  const code = await exited
  if (code !== 0) throw new Error(`gonet findprovs exited with ${code}: ${stderr.join('').trim().slice(-2000)}`)
  return results
}
