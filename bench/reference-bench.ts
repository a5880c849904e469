/**
 * `npm run bench:reference`: our sweep side by side with go's own Reprovide
 * Sweep (go-libp2p-kad-dht's SweepingProvider) on the same mixed go/js
 * testnet and the same CIDs, first healthy, then with a share of the servers
 * turned into tarpits. Then a large go network: lookups per cycle against
 * the servers/k floor. Rewrites its sections of BENCHMARKS.md.
 */
import { Command } from 'commander'
import os from 'node:os'
import { join } from 'node:path'
import { startRedisServer } from '@sweep/store'
import { startTestnet, type TestnetImpl } from '@sweep/testnet'
import { randomCids, tempDir } from '../test/helpers.ts'
import { formatCount, markdownTable, writeSection } from './lib/markdown.ts'
import { runGo, runOurs, type RunResult } from './lib/sweep-run.ts'

const options = new Command()
  .option('--nodes <n>', 'servers in the side-by-side testnet (0 skips it)', '200')
  .option('--impl <impl>', 'their implementation: js, go or mixed', 'mixed')
  .option('--cids <n>', 'CIDs each run provides', '10000')
  .option('--workers <list>', 'our worker counts to run', '1,2,4')
  .option('--unreachable <fraction>', 'share of servers made tarpits for the second round (0 skips it)', '0.3')
  .option('--large-nodes <n>', 'go servers in the large-network run (0 skips it)', '1000')
  .option('--large-cids <n>', 'CIDs in the large-network run', '100000')
  .option('--out <file>', 'where to write the tables', 'BENCHMARKS.md')
  .parse()
  .opts()
const log = (msg: string) => console.log(`[bench:reference] ${msg}`)
const dir = await tempDir('reference-bench')
const redis = await startRedisServer({ dir: join(dir, 'redis') })
const command = `npm run bench:reference -- --nodes ${options.nodes} --impl ${options.impl} --cids ${options.cids} --workers ${options.workers} ` +
  `--unreachable ${options.unreachable} --large-nodes ${options.largeNodes} --large-cids ${options.largeCids}`
const date = new Date().toISOString().slice(0, 10)

function row(r: RunResult): string[] {
  const byImpl = Object.entries(r.recall.byImpl).filter(([, v]) => v != null).map(([k, v]) => `${k} ${v!.toFixed(3)}`).join(', ')
  return [r.label, `${(r.wallMs / 1000).toFixed(1)} s`, String(r.lookups), String(r.connections), formatCount(r.records) + (r.failedRecords > 0 ? ` (${formatCount(r.failedRecords)} failed)` : ''),
    `${r.recall.mean.toFixed(3)} (${byImpl})`, `${(r.cpuMs / 1000).toFixed(1)} s`, r.where]
}

/** Ours with each worker count beside go's provider on one testnet, healthy and then with tarpits. */
async function sideBySide(nodes: number): Promise<void> {
  const testnet = await startTestnet({ nodes, impl: options.impl as TestnetImpl, log })
  const keys = await randomCids(Number(options.cids))
  const rounds: Array<{ title: string; rows: string[][] }> = []
  try {
    const unreachable = Number(options.unreachable)
    for (const faulty of unreachable > 0 ? [false, true] : [false]) {
      if (faulty) {
        const victims = testnet.pickLive(unreachable, { exclude: testnet.bootstrapIds })
        await testnet.makeUnreachable(victims)
        log(`${victims.length} of ${nodes} servers are tarpits now`)
      }
      const title = faulty ? `${Math.round(unreachable * 100)}% of the servers unreachable (tarpits)` : 'healthy'
      const results: RunResult[] = []
      const tag = faulty ? 'silent' : 'healthy'
      results.push(await runGo({ testnet, dir, keys, name: `go-${tag}`, log }))
      log(`${title}: ${row(results.at(-1)!).slice(0, 7).join(' | ')}`)
      for (const workers of String(options.workers).split(',').map(Number)) {
        results.push(await runOurs({ testnet, redisUrl: redis.url, dir, keys, workers, namespace: `${tag}-${workers}` }))
        log(`${title}: ${row(results.at(-1)!).slice(0, 7).join(' | ')}`)
      }
      rounds.push({ title, rows: results.map(row) })
    }
  } finally {
    await testnet.stop()
  }
  writeSection(options.out, 'reference', [
    '## Side by side with go\'s Reprovide Sweep',
    '',
    `Command: \`${command}\`, ${date}. One ${options.impl} testnet of ${nodes} real servers (go-libp2p-kad-dht v0.42.2 and @libp2p/kad-dht), ` +
    `${formatCount(keys.length)} CIDs, the same for every run; each run has its own provider identity, so recall counts only its own records ` +
    `(against the 20 XOR-closest live servers). go's SweepingProvider runs with Kubo's settings in one process; ours is a real coordinator and ` +
    `worker processes (one region job each) with Redis. Wall time runs from handing over the CIDs to the last region done; go's joining the ` +
    `network beforehand is untimed, as our workers' is. CPU is the provider processes' (our workers; go's whole process). ` +
    `Everything shares one 2-core machine (load average ${os.loadavg()[0].toFixed(1)} at the end).`,
    '',
    ...rounds.flatMap((r) => [`### ${r.title}`, '', markdownTable(HEADER, r.rows), ''])
  ].join('\n'))
}

const HEADER = ['provider', 'wall time', 'lookups', 'connections', 'records', 'recall (by server impl)', 'CPU', 'where the time went']

try {
  const nodes = Number(options.nodes)
  if (nodes > 0) await sideBySide(nodes)

  const largeNodes = Number(options.largeNodes)
  if (largeNodes > 0) {
    const started = performance.now()
    const large = await startTestnet({ nodes: largeNodes, impl: 'go', log })
    const startupS = (performance.now() - started) / 1000
    try {
      const many = await randomCids(Number(options.largeCids))
      const run = await runOurs({ testnet: large, redisUrl: redis.url, dir, keys: many, workers: 1, namespace: 'large' })
      const floor = largeNodes / 20
      writeSection(options.out, 'reference-large', [
        '## A large go network',
        '',
        `Command: \`${command}\`, ${date}. ${largeNodes} go-libp2p-kad-dht servers in ${large.info().processes} processes ` +
        `(up and wired in ${startupS.toFixed(0)} s; routing tables hold ${(large.info().routingTable.neighbourhood * 100).toFixed(0)}% of each server's 20 nearest), ` +
        `${formatCount(many.length)} CIDs, one worker. servers/k = ${floor} is the fewest lookups that could cover the keyspace.`,
        '',
        markdownTable(['what', 'result'], [
          ['wall time (POST → every region done)', `${(run.wallMs / 1000).toFixed(1)} s`],
          ['lookups per cycle', String(run.lookups)],
          ['lookups ÷ (servers/k)', (run.lookups / floor).toFixed(2)],
          ['records', formatCount(run.records) + (run.failedRecords > 0 ? ` (${formatCount(run.failedRecords)} failed)` : '')],
          ['recall', run.recall.mean.toFixed(4)],
          ['worker CPU', `${(run.cpuMs / 1000).toFixed(1)} s (${((run.cpuMs * 1000) / Math.max(1, run.records)).toFixed(1)} µs per record)`],
          ['where the time went', run.where]
        ])
      ].join('\n'))
    } finally {
      await large.stop()
    }
  }
} finally {
  await redis.stop()
}
log(`wrote ${options.out}`)
process.exit(0)
