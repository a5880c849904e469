/**
 * `npm run bench:first-provide`: how long a new CID takes to become findable.
 * Single CIDs, one at a time, through our real cluster (coordinator and
 * worker processes, Redis) and through go's SweepingProvider, on one mixed
 * go/js testnet, healthy and then with a share of the servers made tarpits.
 * Timed from the hand-over (our POST, a line on go's stdin) to the first
 * server holding the record, and to all reachable of its 20 closest live
 * servers holding it, by polling the testnet's inspector every 20 ms.
 * Also says where our time went. Rewrites its section of BENCHMARKS.md.
 */
import { Command } from 'commander'
import os from 'node:os'
import { join } from 'node:path'
import { generateIdentity } from '@sweep/dht'
import { startRedisServer } from '@sweep/store'
import { startTestnet, type TestnetImpl } from '@sweep/testnet'
import { randomCids, tempDir } from '../test/helpers.ts'
import { TestCluster } from '../test/lib/cluster.ts'
import { ALL_HOLDERS_LIMIT_MS, formatMs, oursOneByOne, percentile, type OurBreakdown, type OurSample } from '../test/lib/first-provide.ts'
import { goOneByOne, type GoSample } from './lib/go-first-provide.ts'
import { markdownTable, writeSection } from './lib/markdown.ts'

const options = new Command()
  .option('--nodes <n>', 'servers in the testnet', '150')
  .option('--impl <impl>', 'their implementation: js, go or mixed', 'mixed')
  .option('--cids <n>', 'single-CID provides per provider and round', '20')
  .option('--workers <n>', 'our workers', '1')
  .option('--unreachable <fraction>', 'share of servers made tarpits for the second round (0 skips it)', '0.3')
  .option('--no-go', "skip go's provider")
  .option('--out <file>', 'where to write the tables', 'BENCHMARKS.md')
  .parse()
  .opts()
const log = (msg: string) => console.log(`[bench:first-provide] ${msg}`)
const command = `npm run bench:first-provide -- --nodes ${options.nodes} --impl ${options.impl} --cids ${options.cids} --workers ${options.workers} ` +
  `--unreachable ${options.unreachable}${options.go === false ? ' --no-go' : ''}`
const dir = await tempDir('first-provide-bench')
const redis = await startRedisServer({ dir: join(dir, 'redis') })
const nodes = Number(options.nodes)
const testnet = await startTestnet({ nodes, impl: options.impl as TestnetImpl, log })

interface Round { title: string; rows: string[][]; breakdown: string[][] }
const rounds: Round[] = []
const p = (values: ReadonlyArray<number | null>, q: number) => formatMs(percentile(values, q))
const held = (s: ReadonlyArray<{ held: number; wanted: number }>) => `${s.reduce((a, x) => a + x.held, 0)}/${s.reduce((a, x) => a + x.wanted, 0)}`

function row(label: string, s: ReadonlyArray<{ firstMs: number | null; allMs: number | null; held: number; wanted: number }>, lookupMs: ReadonlyArray<number | null>): string[] {
  const first = s.map((x) => x.firstMs)
  const all = s.map((x) => x.allMs)
  return [label, p(first, 50), p(first, 95), p(all, 50), p(all, 95), held(s), p(lookupMs, 50)]
}

/** Median of each stage of ours, and go's lookup and first send, for the where-the-time-went table. */
function breakdown(ours: OurSample[], go: GoSample[] | undefined): string[][] {
  const parts: Array<[keyof OurBreakdown, string]> = [
    ['intake', 'POST → answered (keys stored, bucket marked dirty)'],
    ['coordinator', 'answered → burst job enqueued (leader)'],
    ['queue', 'enqueued → worker starts the job'],
    ['keys', "job start → lookup starts (reading the region's keys)"],
    ['lookup', 'lookup (GetClosestPeers)'],
    ['firstSend', 'lookup done → first record written (dial, stream)'],
    ['seen', 'first record written → a server holds it (poll grain 20 ms)']
  ]
  const rows = parts.map(([key, what]) => [what, p(ours.map((s) => s.breakdown?.[key] ?? null), 50), p(ours.map((s) => s.breakdown?.[key] ?? null), 95), ''])
  if (go !== undefined) {
    rows[4][3] = `${p(go.map((s) => s.lookupMs), 50)} / ${p(go.map((s) => s.lookupMs), 95)}`
    rows[5][3] = `handed over → first record: ${p(go.map((s) => s.firstSendMs), 50)} / ${p(go.map((s) => s.firstSendMs), 95)}`
  }
  const modes = new Map<string, number>()
  for (const s of ours) modes.set(s.mode, (modes.get(s.mode) ?? 0) + 1)
  rows.push(['our jobs by path', [...modes].map(([m, n]) => `${n} ${m}`).join(', '), '', ''])
  return rows
}

try {
  const unreachable = Number(options.unreachable)
  let tarpits = new Set<string>()
  for (const faulty of unreachable > 0 ? [false, true] : [false]) {
    if (faulty) {
      tarpits = new Set(testnet.pickLive(unreachable, { exclude: testnet.bootstrapIds }))
      await testnet.makeUnreachable([...tarpits])
      log(`${tarpits.size} of ${nodes} servers are tarpits now`)
    }
    // a fresh cluster per round: its worker has no proofs from earlier lookups and no memory of failed peers
    const identityFile = join(dir, `ours-${faulty ? 'faulty' : 'healthy'}.key`)
    await generateIdentity(identityFile)
    const cluster = new TestCluster({ redisUrl: redis.url, bootstrap: testnet.bootstrap, identityFile, namespace: faulty ? 'first-faulty' : 'first', concurrency: 1 })
    try {
      await cluster.startCoordinator('coordinator')
      await Promise.all(Array.from({ length: Number(options.workers) }, (_, i) => cluster.startWorker(`worker-${i + 1}`)))
      // the fresh schedule's first pass, so every later job is one CID's burst job
      const stats = await cluster.waitForCycle()
      const provider = stats.workers[0].peerId
      const title = faulty ? `${Math.round(unreachable * 100)}% of the servers unreachable (tarpits)` : 'healthy'
      const count = Number(options.cids)
      const ours = await oursOneByOne(cluster, testnet, await randomCids(count), provider, tarpits, (s, i) =>
        log(`${title} ours ${i + 1}/${count}: first ${formatMs(s.firstMs)}, all ${formatMs(s.allMs)} (${s.held}/${s.wanted}), ${s.mode} ${JSON.stringify(s.breakdown)}`))
      const go = options.go === false ? undefined : await goOneByOne({
        testnet, dir, keys: await randomCids(count), name: faulty ? 'go-faulty' : 'go-healthy', unreachable: tarpits, log,
        onSample: (s, i) => log(`${title} go ${i + 1}/${count}: first ${formatMs(s.firstMs)}, all ${formatMs(s.allMs)} (${s.held}/${s.wanted}), lookup ${s.lookupMs} ms, first send ${s.firstSendMs} ms${s.error ? `, ${s.error}` : ''}`)
      })
      const rows = [row(`sweep, ${options.workers} worker${Number(options.workers) > 1 ? 's' : ''}`, ours, ours.map((s) => s.breakdown?.lookup ?? null))]
      if (go !== undefined) rows.push(row("go's SweepingProvider (kad-dht v0.42.2)", go, go.map((s) => s.lookupMs)))
      rounds.push({ title, rows, breakdown: breakdown(ours, go) })
      for (const r of rows) log(`${title}: ${r.join(' | ')}`)
      for (const r of rounds.at(-1)!.breakdown) log(`${title} breakdown: ${r.join(' | ')}`)
    } finally {
      await cluster.stop()
    }
  }
} finally {
  await testnet.stop()
  await redis.stop()
}

writeSection(options.out, 'first-provide', [
  '## First provide of a new CID',
  '',
  `Command: \`${command}\`, ${new Date().toISOString().slice(0, 10)}. One ${options.impl} testnet of ${nodes} real servers; ` +
  `${options.cids} new CIDs per provider and round, each handed over alone once the previous one is done: ours by \`POST /v1/provide\` ` +
  'to a real coordinator and worker (after the fresh schedule\'s first pass), go\'s by a line on `gosweep --serial`\'s stdin ' +
  '(`StartProviding` on a joined, online SweepingProvider with Kubo\'s settings). Times run from the hand-over until the testnet\'s ' +
  'inspector, polled every 20 ms, sees the provider\'s record on a server: the first one, then every reachable one of the CID\'s 20 ' +
  `closest live servers ("missed" past ${ALL_HOLDERS_LIMIT_MS / 1000} s). "held" counts those servers holding it at the end. ` +
  `Everything shares one 2-core machine (load average ${os.loadavg()[0].toFixed(1)} at the end).`,
  '',
  'Each round starts a fresh cluster and worker: no proofs from earlier lookups, no memory of failed peers. A worker keeps what its lookups proved for 30 min, so a CID in a region it has covered needs no lookup (the "sweep" path: lookup 0 ms, and the first record waits only for a dial); the others take the plain path (one lookup, which stops waiting on silent servers once it has k answers and a quiet period).',
  '',
  ...rounds.flatMap((r) => [
    `### ${r.title}`, '',
    markdownTable(['provider', 'first holder p50', 'p95', 'all reachable closest p50', 'p95', 'held', 'lookup p50'], r.rows), '',
    'Where the time went (ours: p50 and p95 of each stage; go: its lookup, and its hand-over to first record):', '',
    markdownTable(['stage', 'ours p50', 'ours p95', "go's p50 / p95"], r.breakdown), ''
  ])
].join('\n'))
log(`wrote ${options.out}`)
process.exit(0)
