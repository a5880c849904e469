/**
 * `sweep verify`: the end-to-end check. Sampled CIDs are looked up with a real kad-dht
 * findProviders from a separate client host with a fresh identity, the way any IPFS
 * node would, and count as found when the provider (the workers' peer ID) comes back
 * with at least one address. The client is go-libp2p-kad-dht's (what Kubo users run,
 * through the testnet's gonet program) where a Go toolchain can build it, else js.
 */
import { Command, Option } from 'commander'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { CID } from 'multiformats/cid'
import type { ContentRouting } from '@libp2p/interface'
import type { ApiClient } from './api-client.ts'
import type { Stats } from './api-types.ts'
import { formatDuration, formatInt, formatPercent, percentile } from './format.ts'
import {
  clientOf, durationArg, EXIT_VERIFY_BELOW_MIN, interruptible, listArg, positiveIntArg, printJson, ratioArg, withApiOptions, type ApiFlags
} from './options.ts'

/** Whose findProviders runs the lookups; auto is go where gonet can be built, else js. */
export type LookupClient = 'js' | 'go' | 'auto'

export interface VerifyOptions {
  readonly client: ApiClient
  readonly lookupClient?: LookupClient
  /** Status lines (which client, a go build). */
  readonly log?: (msg: string) => void
  readonly sample?: number
  /** DHT entry points; default: the bootstrap addresses the workers report. */
  readonly bootstrap?: readonly string[]
  /** Provider peer ID; default: the workers' peer ID. */
  readonly provider?: string
  readonly timeoutMs?: number
  readonly concurrency?: number
  readonly signal?: AbortSignal
  readonly onProgress?: (done: number, found: number, total: number) => void
}

export interface VerifyLookup {
  readonly cid: string
  readonly found: boolean
  readonly ms: number
  /** Why a lookup ended without the provider: timeout, or the lookup's error. */
  readonly error?: string
}

export interface VerifyReport {
  readonly client: 'js' | 'go'
  readonly total: number
  readonly found: number
  readonly rate: number
  readonly provider: string
  readonly bootstrap: readonly string[]
  /** Over the successful lookups: time until the provider came back. */
  readonly latencyMs: { readonly p50: number | null; readonly p95: number | null }
  readonly missing: readonly VerifyLookup[]
  readonly elapsedMs: number
}

export async function runVerify(options: VerifyOptions): Promise<VerifyReport> {
  const started = Date.now()
  const client = options.client
  const sample = options.sample ?? 50
  const { cids } = await client.get<{ cids: string[] }>(`/v1/sample?n=${sample}`, { signal: options.signal })
  if (cids.length === 0) throw new Error('the reprovide set is empty: nothing to verify (add CIDs with `sweep provide`)')
  let provider = options.provider
  let bootstrap = options.bootstrap === undefined || options.bootstrap.length === 0 ? undefined : [...options.bootstrap]
  if (provider === undefined || bootstrap === undefined) {
    const stats = await client.get<Stats>('/v1/stats', { signal: options.signal })
    const workers = stats.workers ?? []
    if (provider === undefined) {
      const ids = [...new Set(workers.map((w) => w.peerId))]
      if (ids.length === 0) throw new Error('no workers are registered, so the provider peer ID is unknown: start workers or pass --provider')
      if (ids.length > 1) throw new Error(`workers report ${ids.length} different peer IDs (${ids.join(', ')}); pass --provider to choose one`)
      provider = ids[0] as string
    }
    bootstrap ??= [...new Set(workers.flatMap((w) => w.bootstrap ?? []))]
    if (bootstrap.length === 0) throw new Error('the workers report no bootstrap addresses: pass --bootstrap MULTIADDR')
  }
  const go = await goBinaryFor(options.lookupClient ?? 'auto', options.log ?? (() => {}))
  const lookups = go === undefined
    ? await jsLookups(options, cids, provider, bootstrap)
    : await goLookups(options, go, cids, provider, bootstrap)
  const hits = lookups.filter((l) => l.found).map((l) => l.ms)
  const nullable = (n: number) => (Number.isNaN(n) ? null : n)
  return {
    client: go === undefined ? 'js' : 'go',
    total: lookups.length,
    found: hits.length,
    rate: hits.length / lookups.length,
    provider,
    bootstrap,
    latencyMs: { p50: nullable(percentile(hits, 50)), p95: nullable(percentile(hits, 95)) },
    missing: lookups.filter((l) => !l.found),
    elapsedMs: Date.now() - started
  }
}

/** The gonet binary when the lookups should run on go's client; undefined for js. */
async function goBinaryFor(choice: LookupClient, log: (msg: string) => void): Promise<string | undefined> {
  if (choice === 'js') return undefined
  const { gonetBinary } = await import('@sweep/testnet')
  const built = await gonetBinary(log)
  if (built.path != null) return built.path
  if (choice === 'go') throw new Error(`--client go: ${built.reason}`)
  log(`verify: ${built.reason}; looking up with the js client`)
  return undefined
}

async function goLookups(options: VerifyOptions, binary: string, cids: string[], provider: string, bootstrap: string[]): Promise<VerifyLookup[]> {
  const { goFindProviders } = await import('@sweep/testnet')
  let found = 0
  let done = 0
  const results = await goFindProviders({
    binary, bootstrap, provider, cids, timeoutMs: options.timeoutMs, concurrency: options.concurrency, signal: options.signal,
    onResult: (r) => {
      done++
      if (r.found) found++
      options.onProgress?.(done, found, cids.length)
    }
  })
  return results.map((r) => ({ cid: r.cid, found: r.found, ms: r.ms, ...(r.error === undefined || r.error === '' ? {} : { error: r.error }) }))
}

async function jsLookups(options: VerifyOptions, cids: string[], provider: string, bootstrap: string[]): Promise<VerifyLookup[]> {
  // libp2p takes a second to load; only verify needs it, so the other subcommands start fast
  const { createSweepHost } = await import('@sweep/dht')
  const host = await createSweepHost({
    privateKey: await generateKeyPair('Ed25519'),
    bootstrap,
    // a busy network (or machine) answers slowly; a verify that can't even join it says nothing about the records
    bootstrapTimeoutMs: Math.max(30_000, options.timeoutMs ?? 30_000)
  })
  const lookups: VerifyLookup[] = []
  try {
    let next = 0
    let found = 0
    const lane = async () => {
      while (next < cids.length) {
        options.signal?.throwIfAborted()
        const cid = cids[next++] as string
        const result = await lookup(host.libp2p.contentRouting, cid, provider, options.timeoutMs ?? 30_000, options.signal)
        lookups.push(result)
        if (result.found) found++
        options.onProgress?.(lookups.length, found, cids.length)
      }
    }
    await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 10, cids.length) }, lane))
  } finally {
    await host.stop()
  }
  return lookups
}

async function lookup(routing: ContentRouting, text: string, provider: string, timeoutMs: number, outer: AbortSignal | undefined): Promise<VerifyLookup> {
  const started = performance.now()
  const ms = () => Math.round(performance.now() - started)
  let cid: CID
  try {
    cid = CID.parse(text)
  } catch (error) {
    return { cid: text, found: false, ms: 0, error: `not a CID: ${(error as Error).message}` }
  }
  const timeout = AbortSignal.timeout(timeoutMs)
  const signal = outer === undefined ? timeout : AbortSignal.any([outer, timeout])
  try {
    for await (const peer of routing.findProviders(cid, { signal })) {
      if (peer.id.toString() === provider && peer.multiaddrs.length > 0) return { cid: text, found: true, ms: ms() }
    }
    return { cid: text, found: false, ms: ms(), error: 'lookup ended without the provider' }
  } catch (error) {
    outer?.throwIfAborted()
    return { cid: text, found: false, ms: ms(), error: timeout.aborted ? `timed out after ${formatDuration(timeoutMs)}` : (error as Error).message }
  }
}

export function describeVerify(report: VerifyReport, minRate: number): string {
  const lines = [
    `verify: ${formatInt(report.found)}/${formatInt(report.total)} sampled CIDs found (${formatPercent(report.rate)}, minimum ${formatPercent(minRate)}) with the ${report.client} kad-dht client`,
    `  provider:       ${report.provider}`,
    `  lookup latency: p50 ${formatDuration(report.latencyMs.p50)}, p95 ${formatDuration(report.latencyMs.p95)}`,
    `  elapsed:        ${formatDuration(report.elapsedMs)}`
  ]
  for (const miss of report.missing.slice(0, 20)) lines.push(`  not found: ${miss.cid} (${miss.error ?? 'no provider record'})`)
  if (report.missing.length > 20) lines.push(`  … and ${report.missing.length - 20} more not found`)
  return `${lines.join('\n')}\n`
}

interface VerifyFlags extends ApiFlags {
  readonly client: LookupClient
  readonly sample: number
  readonly bootstrap?: string[]
  readonly provider?: string
  readonly timeout: number
  readonly concurrency: number
  readonly minRate: number
  readonly json?: boolean
}

export function verifyCommand(): Command {
  return withApiOptions(new Command('verify'))
    .description('look sampled CIDs up with kad-dht findProviders from a fresh client and report the success rate')
    .addOption(new Option('--sample <n>', 'CIDs to look up (at most 10000)').argParser(positiveIntArg).default(50))
    .addOption(new Option('--client <impl>', 'findProviders client: go (go-libp2p-kad-dht, as Kubo), js (@libp2p/kad-dht), or auto: go where a Go toolchain can build it').choices(['auto', 'go', 'js']).default('auto'))
    .addOption(new Option('--bootstrap <multiaddr...>', 'DHT entry points with /p2p/ (default: the workers\' bootstrap addresses)').argParser(listArg))
    .addOption(new Option('--provider <peerId>', 'provider peer ID to expect (default: the workers\' peer ID)'))
    .addOption(new Option('--timeout <duration>', 'per-lookup timeout').argParser(durationArg).default(30_000, '30s'))
    .addOption(new Option('--concurrency <n>', 'lookups in flight').argParser(positiveIntArg).default(10))
    .addOption(new Option('--min-rate <ratio>', 'success rate below which verify exits 4').argParser(ratioArg).default(0.9))
    .option('--json', 'print the report as JSON')
    .addHelpText('after', '\nExit status: 0 success rate ≥ --min-rate, 4 below it, 1 failure.')
    .action(async (flags: VerifyFlags) => {
      const tty = process.stderr.isTTY === true
      const report = await interruptible((signal) => runVerify({
        client: clientOf(flags),
        lookupClient: flags.client,
        log: (m) => process.stderr.write(`${m}\n`),
        sample: flags.sample,
        bootstrap: flags.bootstrap,
        provider: flags.provider,
        timeoutMs: flags.timeout,
        concurrency: flags.concurrency,
        signal,
        onProgress: (done, found, total) => {
          if (tty) process.stderr.write(`\rverify: ${done}/${total} looked up, ${found} found${done === total ? '\n' : ''}`)
        }
      }))
      if (flags.json === true) printJson({ ...report, minRate: flags.minRate, ok: report.rate >= flags.minRate })
      else process.stdout.write(describeVerify(report, flags.minRate))
      if (report.rate < flags.minRate) process.exitCode = EXIT_VERIFY_BELOW_MIN
    })
}
