/**
 * `npm run bench:conditions`: how our sweep and go's Reprovide Sweep hold up on
 * the network users have. One mixed go/js testnet, the same CIDs for every run:
 * healthy, then with a share of the servers silent (tarpits: they accept TCP and
 * never answer), then, on fresh testnets, with a share of the servers killed
 * partway through the provide. Recall is against the live servers' true closest,
 * after the provide settles (our re-sweeps included). Rewrites its section of
 * BENCHMARKS.md.
 */
import { Command } from 'commander'
import os from 'node:os'
import { join } from 'node:path'
import { startRedisServer } from '@sweep/store'
import { startTestnet, type Testnet, type TestnetImpl } from '@sweep/testnet'
import { randomCids, tempDir } from '../test/helpers.ts'
import { formatCount, markdownTable, writeSection } from './lib/markdown.ts'
import { runGo, runOurs, type RunResult } from './lib/sweep-run.ts'

const options = new Command()
  .option('--nodes <n>', 'servers in each testnet', '200')
  .option('--impl <impl>', 'their implementation: js, go or mixed', 'mixed')
  .option('--cids <n>', 'CIDs each run provides', '10000')
  .option('--workers <n>', 'our workers', '1')
  .option('--fraction <f>', 'share of the servers made silent, or killed', '0.3')
  .option('--kill-at <f>', 'when to kill, as a share of the same provider\'s healthy wall time', '0.3')
  .option('--resweep-delay <duration>', 'our coordinator\'s --resweep-delay', '10s')
  .option('--no-go', 'skip go\'s provider')
  .option('--only <list>', 'conditions to run: healthy,silent,killed', 'healthy,silent,killed')
  .option('--out <file>', 'where to write the table', 'BENCHMARKS.md')
  .parse()
  .opts()
const log = (msg: string) => console.log(`[bench:conditions] ${msg}`)
const nodes = Number(options.nodes)
const fraction = Number(options.fraction)
const killAt = Number(options.killAt)
const workers = Number(options.workers)
const only = new Set(String(options.only).split(','))
const command = `npm run bench:conditions -- --nodes ${nodes} --impl ${options.impl} --cids ${options.cids} --workers ${workers} ` +
  `--fraction ${fraction} --kill-at ${killAt} --resweep-delay ${options.resweepDelay}${options.go === false ? ' --no-go' : ''}`
const dir = await tempDir('conditions-bench')
const redis = await startRedisServer({ dir: join(dir, 'redis') })
const keys = await randomCids(Number(options.cids))
const rows: string[][] = []
let runs = 0

function row(condition: string, r: RunResult, healthy?: RunResult): string[] {
  const byImpl = Object.entries(r.recall.byImpl).filter(([, v]) => v != null).map(([k, v]) => `${k} ${v!.toFixed(3)}`).join(', ')
  const slower = healthy === undefined ? '' : ` (${(r.wallMs / healthy.wallMs).toFixed(2)}×)`
  return [condition, r.label, `${(r.wallMs / 1000).toFixed(1)} s${slower}`, `${r.recall.mean.toFixed(3)} (${byImpl})`, String(r.lookups),
    formatCount(r.records) + (r.failedRecords > 0 ? ` (${formatCount(r.failedRecords)} failed)` : ''), r.where]
}

async function ours(testnet: Testnet, tag: string, extra: { afterPost?: () => void; settle?: boolean } = {}): Promise<RunResult> {
  return runOurs({ testnet, redisUrl: redis.url, dir, keys, workers, namespace: `${tag}-${runs++}`, resweepDelay: options.resweepDelay, ...extra })
}

async function go(testnet: Testnet, tag: string, during?: () => void): Promise<RunResult> {
  during?.()
  return runGo({ testnet, dir, keys, name: `go-${tag}-${runs++}`, log })
}

/** Kills the share of servers after delayMs; resolves once they are down. */
function killLater(testnet: Testnet, delayMs: number): { done: Promise<number> } {
  return {
    done: new Promise((resolve, reject) => setTimeout(() => {
      const victims = testnet.pickLive(fraction, { exclude: testnet.bootstrapIds })
      testnet.stopNodes(victims).then(() => {
        log(`killed ${victims.length} of ${nodes} servers`)
        resolve(victims.length)
      }, reject)
    }, delayMs))
  }
}

const healthy: { go?: RunResult; ours?: RunResult } = {}
const testnet = await startTestnet({ nodes, impl: options.impl as TestnetImpl, log })
try {
  if (options.go !== false) healthy.go = await go(testnet, 'healthy')
  healthy.ours = await ours(testnet, 'healthy')
  if (only.has('healthy')) for (const r of [healthy.go, healthy.ours]) if (r) rows.push(row('healthy', r))
  for (const r of rows) log(r.slice(0, 6).join(' | '))
  if (only.has('silent')) {
    await testnet.makeUnreachable(testnet.pickLive(fraction, { exclude: testnet.bootstrapIds }))
    if (options.go !== false) rows.push(row(`${fraction * 100}% silent`, await go(testnet, 'silent'), healthy.go))
    rows.push(row(`${fraction * 100}% silent`, await ours(testnet, 'silent'), healthy.ours))
    for (const r of rows.slice(-2)) log(r.slice(0, 6).join(' | '))
  }
} finally {
  await testnet.stop()
}

if (only.has('killed')) {
  const killedLabel = `${fraction * 100}% killed at ${killAt * 100}% of the run`
  if (options.go !== false && healthy.go) {
    const fresh = await startTestnet({ nodes, impl: options.impl as TestnetImpl, log })
    try {
      // go joins the network first (untimed): count from its start, joining included
      const kill = killLater(fresh, healthy.go.setupMs + killAt * healthy.go.wallMs)
      const run = await go(fresh, 'killed')
      await kill.done
      rows.push(row(killedLabel, { ...run, recall: await fresh.recall(keys.map((k) => k.multihash), 20, { provider: run.provider }) }, healthy.go))
      log(rows.at(-1)!.slice(0, 6).join(' | '))
    } finally {
      await fresh.stop()
    }
  }
  const fresh = await startTestnet({ nodes, impl: options.impl as TestnetImpl, log })
  try {
    let kill: { done: Promise<number> } | undefined
    const run = await ours(fresh, 'killed', { afterPost: () => { kill = killLater(fresh, killAt * healthy.ours!.wallMs) }, settle: true })
    await kill?.done
    rows.push(row(killedLabel, { ...run, recall: await fresh.recall(keys.map((k) => k.multihash), 20, { provider: run.provider }) }, healthy.ours))
    log(rows.at(-1)!.slice(0, 6).join(' | '))
  } finally {
    await fresh.stop()
  }
}

writeSection(options.out, 'conditions', [
  '## Network conditions: healthy, silent servers, servers dying mid-provide',
  '',
  `Command: \`${command}\`, ${new Date().toISOString().slice(0, 10)}. ${options.impl} testnets of ${nodes} real servers ` +
  `(go-libp2p-kad-dht v0.42.2 and @libp2p/kad-dht), ${formatCount(keys.length)} CIDs, each run under its own provider identity. ` +
  `Silent servers are tarpits: they accept TCP and never answer, and stay in every routing table. Killed servers are stopped at ` +
  `${killAt * 100}% of the same provider's healthy wall time, on a fresh testnet per provider. Recall is against the 20 XOR-closest ` +
  `live servers, measured after the provide settled (for ours: after the re-sweeps it caused; their time is in the last column). ` +
  `Ours is ${workers} worker process${workers > 1 ? 'es' : ''} with a real coordinator and Redis; go's is its SweepingProvider with Kubo's settings. ` +
  `One 2-core machine (load average ${os.loadavg()[0].toFixed(1)} at the end).`,
  '',
  markdownTable(['condition', 'provider', 'wall time (× healthy)', 'recall (by server impl)', 'lookups', 'records', 'where the time went'], rows)
].join('\n'))
await redis.stop()
log(`wrote ${options.out}`)
process.exit(0)
