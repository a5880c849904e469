/**
 * `sweep demo` (`npm run demo`): the whole path on one machine. A local cluster with a
 * private Redis and a testnet of real kad-dht servers takes random CIDs through the same
 * upload as `sweep provide`, sweeps them out, and a separate DHT client checks with
 * findProviders (the same code as `sweep verify`) that they can be found.
 */
import { Command, Option } from 'commander'
import { randomBytes } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { once } from 'node:events'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { ApiClient } from '../client/api-client.ts'
import type { Stats } from '../client/api-types.ts'
import { formatDuration, formatInt, formatPercent } from '../client/format.ts'
import { durationArg, interruptible, positiveIntArg, ratioArg } from '../client/options.ts'
import { createTransferProgress } from '../client/progress.ts'
import { describeSummary } from '../client/set-commands.ts'
import { renderStats } from '../client/stats.ts'
import { formatInvalidLine, uploadCids } from '../client/upload.ts'
import { describeVerify, runVerify } from '../client/verify.ts'
import { withTestnetOptions, type TestnetFlags } from '../testnet-options.ts'
import { dashboardUrl, startLocalCluster, type LocalCluster } from './cluster.ts'
import { LiveView } from './live-view.ts'

interface DemoFlags extends TestnetFlags {
  readonly nodes: number
  readonly workers: number
  readonly cids: number
  readonly interval: number
  readonly timeout: number
  readonly sample: number
  readonly minRate: number
  readonly keep?: boolean
}

export function demoCommand(): Command {
  return withTestnetOptions(new Command('demo'))
    .description('provide random CIDs through a local cluster to a testnet of real kad-dht servers, then verify them with findProviders')
    .addOption(new Option('--nodes <n>', 'kad-dht servers in the testnet').argParser(positiveIntArg).default(100))
    .addOption(new Option('--workers <n>', 'worker processes').argParser(positiveIntArg).default(2))
    .addOption(new Option('--cids <n>', 'random CIDs to provide').argParser(positiveIntArg).default(20_000))
    .addOption(new Option('--interval <duration>', 'reprovide interval of the demo cluster').argParser(durationArg).default(5 * 60_000, '5m'))
    .addOption(new Option('--timeout <duration>', 'how long providing every CID may take').argParser(durationArg).default(10 * 60_000, '10m'))
    .addOption(new Option('--sample <n>', 'CIDs to verify with findProviders').argParser(positiveIntArg).default(50))
    .addOption(new Option('--min-rate <ratio>', 'verification success rate the demo needs').argParser(ratioArg).default(0.9))
    .option('--keep', 'keep the temporary directory (logs, redis data) afterwards')
    .addHelpText('after', '\nExit status: 0 verified, 4 verification below --min-rate, 1 failure (logs are kept then).')
    .action(async (flags: DemoFlags) => {
      const ok = await interruptible((signal) => runDemo(flags, signal))
      process.exit(ok ? 0 : 4)
    })
}

/** Runs every phase; true when verification met the minimum rate. Cleans up whatever happens. */
export async function runDemo(flags: DemoFlags, signal: AbortSignal): Promise<boolean> {
  console.log(`sweep demo: a local cluster (private Redis, ${flags.nodes} real kad-dht servers (${flags.impl}), ${flags.workers} workers) provides ` +
    `${formatInt(flags.cids)} random CIDs, then a separate DHT client looks ${flags.sample} of them up with findProviders.`)
  const dir = await mkdtemp(join(tmpdir(), 'sweep-demo-'))
  const timings: Array<[string, number]> = []
  const phase = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
    signal.throwIfAborted()
    const started = Date.now()
    const result = await run()
    timings.push([name, Date.now() - started])
    console.log(`▸ ${name}: ${formatDuration(Date.now() - started)}`)
    return result
  }
  let cluster: LocalCluster | undefined
  let failed = true
  try {
    cluster = await phase('cluster up', () => startLocalCluster({
      dir, redis: 'private', testnet: flags.nodes, testnetFlags: flags, workers: flags.workers, interval: `${flags.interval}ms`,
      api: '127.0.0.1:0', apiToken: '', log: (m) => console.error(`  ${m}`)
    }))
    const client = new ApiClient({ url: cluster.apiUrl })
    console.log(`  dashboard ${dashboardUrl(cluster.apiUrl, cluster.apiToken)}  (live while the demo runs)`)
    const file = join(dir, 'cids.txt')
    await phase(`generate ${formatInt(flags.cids)} CIDs`, () => writeRandomCids(file, flags.cids))
    const progress = createTransferProgress({ label: 'provide' })
    const summary = await phase('upload', () => uploadCids({
      operation: 'provide', client, input: file, signal, progress, onInvalid: (line) => progress.log(formatInvalidLine(line))
    }))
    process.stdout.write(describeSummary(summary))
    if (summary.invalidCount > 0) throw new Error(`${summary.invalidCount} generated CIDs were refused; see above`)
    const stats = await phase('provide all CIDs', () => waitUntilProvided(client, flags.cids, flags.timeout, signal, cluster!.logDir))
    process.stdout.write(`\n${renderStats(stats)}\n`)
    const report = await phase('verify', () => runVerify({ client, sample: flags.sample, signal, log: (m) => console.error(`  ${m}`) }))
    process.stdout.write(describeVerify(report, flags.minRate))
    failed = false
    return report.rate >= flags.minRate
  } finally {
    await phase('stop', async () => { await cluster?.stop() }).catch(() => cluster?.stop())
    console.log(`timings: ${timings.map(([name, ms]) => `${name} ${formatDuration(ms)}`).join(' · ')}`)
    if (failed || flags.keep === true) console.error(`logs and data kept in ${dir}`)
    else await rm(dir, { recursive: true, force: true })
  }
}

/** n random sha2-256 CIDs (v1, raw, base32), one per line. */
async function writeRandomCids(file: string, n: number): Promise<void> {
  const out = createWriteStream(file)
  for (let i = 0; i < n; i++) {
    const cid = CID.createV1(raw.code, await sha256.digest(randomBytes(32))).toString()
    if (!out.write(`${cid}\n`)) await once(out, 'drain')
  }
  out.end()
  await once(out, 'finish')
}

/**
 * Shows the live view until the cluster has provided every CID: the provided-keys counter
 * reached n, or every region of the cycle is done, with the keys it holds now, and nothing
 * is left queued. A region done before the upload (an empty catch-up at the cycle's start)
 * counts none of the keys it holds now, so it doesn't end the wait.
 */
async function waitUntilProvided(client: ApiClient, n: number, timeoutMs: number, signal: AbortSignal, logDir: string): Promise<Stats> {
  const done = (s: Stats) => s.provides.keysProvided >= n ||
    (s.keys.total >= n && s.cycle.regionsTotal > 0 && s.cycle.regionsDone === s.cycle.regionsTotal && s.cycle.keysProvided >= s.keys.total &&
      s.queues.waiting + s.queues.prioritized + s.queues.active + s.queues.delayed === 0)
  let resolveDone: (stats: Stats) => void = () => {}
  const finished = new Promise<Stats>((resolve) => { resolveDone = resolve })
  const view = new LiveView({ client, targetKeys: n, onStats: (s) => { if (done(s)) resolveDone(s) } })
  view.start()
  let timer: NodeJS.Timeout | undefined
  try {
    const outcome = await Promise.race([
      finished,
      new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), timeoutMs) }),
      new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }))
    ])
    if (outcome === 'timeout') {
      const s = view.stats
      const where = s === undefined ? 'the API never answered' : `${formatInt(s.provides.keysProvided)} of ${formatInt(n)} keys provided ` +
        `(${formatPercent(s.provides.keysProvided / n)}), regions ${s.cycle.regionsDone}/${s.cycle.regionsTotal}, ${s.queues.failed} failed jobs`
      throw new Error(`not every CID was provided within ${formatDuration(timeoutMs)}: ${where}; worker and coordinator logs are in ${logDir}`)
    }
    return outcome
  } finally {
    clearTimeout(timer)
    view.stop()
  }
}
