/**
 * `npm run demo`: one full sweep cycle on a simulated DHT, set against the classic
 * one-lookup-per-CID way, with what each costs and a check that sampled CIDs landed
 * on exactly their k closest servers. Network time is virtual (VirtualClock), so
 * "simulated time" is what a real host would spend; wall time is only our CPU.
 */
import cliProgress from 'cli-progress'
import { Command, CommanderError, InvalidArgumentError } from 'commander'
import { keyHead32 } from '@sweep/keyspace'
import { Delivery, provideOneByOne, sampleNetwork, sweepAll, Sweeper, type ProvideKey } from '@sweep/sweep'
import { placementOf, Prng, SimKeySet, SimNetwork } from '@sweep/simnet'

/** Replication factor: every CID goes to its K closest servers. */
const K = 20
/** CIDs run the classic way, and CIDs checked for placement: enough for a tight per-CID cost and a 0.05% resolution. */
const SAMPLE = 2_000
/** Below this share of exactly placed sampled CIDs the demo fails. */
const MIN_EXACT = 0.99

const positiveInt = (value: string): number => {
  const n = Number(value)
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer.')
  return n
}

const program = new Command('sim-demo')
  .description('One full sweep cycle on a simulated DHT, compared with one lookup per CID.')
  .option('--servers <n>', 'DHT servers in the simulated network', positiveInt, 25_000)
  .option('--cids <n>', 'CIDs to provide', positiveInt, 200_000)
  .option('--seed <n>', 'seed for the network (CIDs use seed + 1)', positiveInt, 1)
  .exitOverride()
try {
  program.parse()
} catch (error) {
  // commander has already printed the message (naming the flag); usage errors exit 2, --help 0
  if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? 0 : 2)
  throw error
}
const { servers, cids, seed } = program.opts<{ servers: number; cids: number; seed: number }>()

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US')
const wall = (since: number): string => `${((performance.now() - since) / 1000).toFixed(1)} s`
/** Virtual ms as 1h02m, 4m05s or 8.3s. */
function simTime(ms: number): string {
  const s = Math.round(ms / 1000)
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, '0')}m`
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
  return `${(ms / 1000).toFixed(1)}s`
}

const started = performance.now()
let t = performance.now()
const network = SimNetwork.create({ servers, seed })
const contactsPerServer = (network.totalContacts / servers).toFixed(0)
console.log(`Built a simulated DHT of ${fmt(servers)} servers (${contactsPerServer} routing-table contacts each, seed ${seed}) in ${wall(t)}`)

t = performance.now()
const keys = SimKeySet.generate(cids, seed + 1)
console.log(`Generated ${fmt(cids)} CIDs in ${wall(t)}`)

// Index order is keyspace order, so evenly spaced indices spread the sample over the keyspace.
const sample: ProvideKey[] = []
const sampleSize = Math.min(SAMPLE, cids)
for (let i = 0; i < sampleSize; i++) sample.push(keys.at(Math.floor(((i + 0.5) * cids) / sampleSize)))
// Keep recipient lists for sampled CIDs only: for all of them the log would hold CIDs × 20 entries.
// A 32-bit head can match an unsampled CID too; that only records one more list.
const sampledHeads = new Set(sample.map(({ key }) => keyHead32(key)))
network.delivery.recordKeysWhere((key) => sampledHeads.has(keyHead32(key)))

/** Share of sampled CIDs that reached exactly their K true closest servers; count of those some server got twice. */
function checkPlacement(): { exact: number; duplicated: number } {
  let exact = 0
  let duplicated = 0
  for (const { key } of sample) {
    const placement = placementOf(network, key, K)
    if (placement.duplicated) duplicated++
    if (placement.exact) exact++
  }
  return { exact: exact / sample.length, duplicated }
}

interface Progress { done: number; total: number; cids: number; lookups: number; simMs: number }

/** A bar on a terminal; in CI logs and pipes a redrawn bar is noise, so a plain line every ~10% instead. */
function progressReporter(): { update(p: Progress): void; stop(): void } {
  const payload = (p: Progress) => ({ cids: fmt(p.cids), lookups: fmt(p.lookups), sim: simTime(p.simMs) })
  if (process.stdout.isTTY) {
    const bar = new cliProgress.SingleBar({
      stream: process.stdout,
      format: 'Sweeping {bar} {value}/{total} regions | {cids} CIDs | {lookups} lookups | {sim} simulated',
      hideCursor: true
    }, cliProgress.Presets.shades_classic)
    let active = false
    return {
      update(p) {
        // the region count is known only once the network size is estimated
        if (!active) bar.start(p.total, p.done, payload(p))
        active = true
        bar.update(p.done, payload(p))
      },
      stop: () => { if (active) bar.stop() }
    }
  }
  let printed = 0
  return {
    update(p) {
      const tenth = Math.floor((p.done * 10) / p.total)
      if (tenth <= printed) return
      printed = tenth
      const { cids, lookups, sim } = payload(p)
      console.log(`Sweeping: ${tenth * 10}% — ${fmt(p.done)}/${fmt(p.total)} regions, ${cids} CIDs, ${lookups} lookups, ${sim} simulated`)
    },
    stop: () => {}
  }
}

// 1. A full sweep cycle on one host: estimate the network size, then every region in keyspace order.
const host = network.createHost()
const progress = progressReporter()
const sweepStart = network.clock.now()
t = performance.now()
const { estimate, totals, reports } = await network.clock.run(async () => {
  const estimate = await sampleNetwork(host, K)
  const sweeper = new Sweeper({ router: host, sender: host, keys, clock: network.clock }, { networkSize: estimate.size })
  let cidsDone = 0
  const cycle = await sweepAll(sweeper, estimate.prefixLength, (report, done, total) => {
    cidsDone += report.keys
    progress.update({ done, total, cids: cidsDone, lookups: host.stats().lookups, simMs: network.clock.now() - sweepStart })
  })
  return { estimate, ...cycle }
}).finally(() => progress.stop())
const sweepMs = network.clock.now() - sweepStart
const sweep = host.stats()
console.log(`Swept ${fmt(totals.keys)} CIDs in ${fmt(totals.regions)} regions: ${simTime(sweepMs)} simulated, ${wall(t)} wall`)
// Checked now, before the baseline's deliveries of the same CIDs land in the log.
const sweepPlacement = checkPlacement()

// 2. The classic way on the sample, with a fresh host (cold connections), scaled up per CID.
// Shuffled: a classic reprovider walks its datastore, not the keyspace. In keyspace order
// neighbouring CIDs share their closest servers and the 256-connection LRU pool reuses
// them, which would understate its connections about tenfold.
const classicOrder = new Prng(seed + 2).shuffle([...sample])
network.delivery.clear()
const host2 = network.createHost()
const baseStart = network.clock.now()
t = performance.now()
await network.clock.run(() =>
  provideOneByOne({ router: host2, clock: network.clock }, classicOrder, new Delivery(host2, { concurrency: 16, attempts: 2 }), K))
const baseMs = network.clock.now() - baseStart
const base = host2.stats()
const basePlacement = checkPlacement()
console.log(`Provided ${fmt(sample.length)} CIDs one lookup each: ${simTime(baseMs)} simulated, ${wall(t)} wall`)

// 3. Summary. Baseline costs are per CID × all CIDs: each CID's lookup and sends are independent,
// and in random order its connection pool is rarely reused, so cost grows linearly.
const scale = cids / sample.length
const times = (a: number, b: number): string => (a === 0 ? '—' : `${(b / a).toFixed(b / a >= 10 ? 0 : 2)}×`)
const pct = (x: number): string => `${(x * 100).toFixed(2)}%`
const rows: string[][] = [
  ['', 'sweep', `one lookup per CID`, 'one-by-one ÷ sweep'],
  ['', '(full cycle)', `(${fmt(sample.length)} run, ×${scale.toFixed(scale >= 10 ? 0 : 2)})`, ''],
  ['lookups', fmt(sweep.lookups), fmt(base.lookups * scale), times(sweep.lookups, base.lookups * scale)],
  ['connections opened', fmt(sweep.connectionsOpened), fmt(base.connectionsOpened * scale), times(sweep.connectionsOpened, base.connectionsOpened * scale)],
  ['FIND_NODE RPCs', fmt(sweep.rpcs), fmt(base.rpcs * scale), times(sweep.rpcs, base.rpcs * scale)],
  ['ADD_PROVIDER messages', fmt(sweep.messagesSent), fmt(base.messagesSent * scale), times(sweep.messagesSent, base.messagesSent * scale)],
  ['simulated busy time', simTime(sweepMs), simTime(baseMs * scale), times(sweepMs, baseMs * scale)],
  ['lookups ÷ (servers/20)', (sweep.lookups / (servers / K)).toFixed(2), ((base.lookups * scale) / (servers / K)).toFixed(2), ''],
  ['connections ÷ servers', (sweep.connectionsOpened / servers).toFixed(2), ((base.connectionsOpened * scale) / servers).toFixed(2), ''],
  ['messages ÷ (20 × CIDs)', (sweep.messagesSent / (K * cids)).toFixed(3), ((base.messagesSent * scale) / (K * cids)).toFixed(3), ''],
  [`placement exact (of ${fmt(sample.length)})`, pct(sweepPlacement.exact), pct(basePlacement.exact), '']
]
const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)))
console.log()
for (const row of rows) console.log(row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('   ').trimEnd())

const modes = { sweep: 0, plain: 0, empty: 0 }
for (const r of reports) modes[r.mode]++
const facts: [string, string][] = [
  ['network size estimate', `${fmt(estimate.size)} (true ${fmt(servers)}), regions at prefix length ${estimate.prefixLength}`],
  ['regions swept', `${fmt(totals.regions)} (${fmt(modes.sweep)} explored, ${fmt(modes.plain)} one-by-one, ${fmt(modes.empty)} empty)`],
  ['failed regions', `${fmt(totals.failedRegions)} (${fmt(totals.recordsFailed)} records not delivered)`],
  ['sampled CIDs sent twice', `${fmt(sweepPlacement.duplicated)} sweep, ${fmt(basePlacement.duplicated)} one-by-one`],
  ['wall time', wall(started)],
  ['peak RSS', `${fmt(process.resourceUsage().maxRSS / 1024)} MiB`]
]
const labelWidth = Math.max(...facts.map(([label]) => label.length))
console.log()
for (const [label, value] of facts) console.log(`${label.padEnd(labelWidth)}   ${value}`)

if (sweepPlacement.exact < MIN_EXACT) {
  console.error(`\nFAIL: only ${pct(sweepPlacement.exact)} of sampled CIDs sit on exactly their ${K} closest servers (need ${pct(MIN_EXACT)}).`)
  // exitCode rather than exit(): lets piped stdout drain
  process.exitCode = 1
}
