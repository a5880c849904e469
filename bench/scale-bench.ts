/**
 * `npm run bench:scale`: measured scale-out on one machine (issue 11 §1). One
 * mixed go/js testnet whose servers delay every kad answer (what `sweep testnet
 * --latency 80 --jitter 20` does), and real coordinator and worker processes
 * with Redis: 1, 2 and 4 workers of one region job each, and 1 worker of 4
 * jobs, interleaved round by round, each run with fresh CIDs, a fresh Redis
 * namespace and its own provider identity. Per run: time from the POST to every
 * region done, the workers' CPU per record sent, recall, and how busy the whole
 * machine was meanwhile. Rewrites its section of BENCHMARKS.md.
 */
import { Command } from 'commander'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { startRedisServer } from '@sweep/store'
import { gonetBinary, startTestnet, type TestnetImpl } from '@sweep/testnet'
import { randomCids, tempDir } from '../test/helpers.ts'
import { formatCount, markdownTable, writeSection } from './lib/markdown.ts'
import { runOurs, type RunResult } from './lib/sweep-run.ts'
import { MachineCpu, type Utilisation } from './scale/machine-cpu.ts'

const options = new Command()
  .option('--nodes <n>', 'testnet servers', '200')
  .option('--impl <impl>', 'their implementation: js, go or mixed', 'mixed')
  .option('--latency <ms>', 'delay of every kad answer', '80')
  .option('--jitter <ms>', 'uniform ± jitter on --latency', '20')
  .option('--cids <n>', 'fresh CIDs each run provides', '20000')
  .option('--configs <list>', 'workers×jobs per worker, in the order each round runs them', '1x1,2x1,4x1,1x4')
  .option('--rounds <n>', 'rounds of every configuration', '2')
  .option('--run-timeout <min>', 'minutes one run may take', '10')
  .option('--budget <min>', 'minutes for the whole bench; no run starts that would likely overrun it', '25')
  .option('--out <file>', 'where to write the table', 'BENCHMARKS.md')
  .parse()
  .opts()
const log = (msg: string) => console.log(`[bench:scale] ${new Date().toISOString().slice(11, 19)} ${msg}`)
const benchStart = performance.now()
const budgetMs = Number(options.budget) * 60_000
const runTimeoutMs = Number(options.runTimeout) * 60_000
const nodes = Number(options.nodes)
const cids = Number(options.cids)
const rounds = Number(options.rounds)
const latency = Number(options.latency)
const jitter = Number(options.jitter)

interface Config { readonly workers: number; readonly jobs: number; readonly name: string }
const configs: Config[] = String(options.configs).split(',').map((c) => {
  const m = /^(\d+)x(\d+)$/.exec(c.trim())
  if (!m) throw new Error(`--configs: "${c}" is not workers×jobs like 4x1`)
  return { workers: Number(m[1]), jobs: Number(m[2]), name: `${m[1]}×${m[2]}` }
})
const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim()
const command = `npm run bench:scale -- --nodes ${nodes} --impl ${options.impl} --latency ${latency} --jitter ${jitter} --cids ${cids} ` +
  `--configs ${options.configs} --rounds ${rounds} --run-timeout ${options.runTimeout} --budget ${options.budget}`

interface Measured { config: Config; round: number; run?: RunResult; machine?: Utilisation; error?: string }
const measured: Measured[] = []
const skipped: string[] = []

const dir = await tempDir('scale-bench')
const redis = await startRedisServer({ dir: join(dir, 'redis') })
let impl = options.impl as TestnetImpl
if (impl !== 'js' && (await gonetBinary(log)).path == null) {
  log('no Go toolchain: the testnet runs js servers only')
  impl = 'js'
}
const testnet = await startTestnet({ nodes, impl, log })
await testnet.setLatency(latency, jitter)
log(`testnet of ${nodes} ${impl} servers up, every answer delayed ${latency} ± ${jitter} ms`)
const machine = new MachineCpu()
try {
  let longest = 0
  for (let round = 1; round <= rounds; round++) {
    // the second round runs the configurations in reverse, so a slow drift of the machine doesn't favour one of them
    const order = round % 2 === 1 ? configs : [...configs].reverse()
    for (const config of order) {
      const left = budgetMs - (performance.now() - benchStart)
      if (left < Math.max(longest * 1.2, 60_000)) {
        skipped.push(`${config.name} round ${round}`)
        continue
      }
      const keys = await randomCids(cids)
      let postedAt = 0
      const started = performance.now()
      try {
        const run = await runOurs({
          testnet, redisUrl: redis.url, dir, keys, workers: config.workers, concurrency: config.jobs,
          namespace: `scale-${config.workers}x${config.jobs}-${round}`, timeoutMs: Math.min(runTimeoutMs, left),
          afterPost: () => { postedAt = performance.now() }
        })
        const entry = { config, round, run, machine: machine.between(postedAt, postedAt + run.wallMs) }
        measured.push(entry)
        log(`${config.name} round ${round}: ${(run.wallMs / 1000).toFixed(1)} s, ${formatCount(run.records)} records, ` +
          `${perRecordUs(run).toFixed(1)} µs CPU/record, recall ${run.recall.mean.toFixed(3)}, machine ${pct(entry.machine.share)} busy; ${run.where}`)
      } catch (error) {
        measured.push({ config, round, error: (error as Error).message.split('\n')[0].slice(0, 200) })
        log(`${config.name} round ${round} failed: ${(error as Error).message.split('\n')[0]}`)
      }
      longest = Math.max(longest, performance.now() - started)
    }
  }
} finally {
  machine.stop()
  await testnet.stop()
  await redis.stop()
}

function perRecordUs(run: RunResult): number {
  return run.records > 0 ? (run.cpuMs * 1000) / run.records : NaN
}

function pct(share: number): string {
  return `${Math.round(share * 100)}%`
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

interface Summary { config: Config; ok: Measured[]; wallMs: number; cpuUs: number; failed: number }
const summaries: Summary[] = configs.map((config) => {
  const mine = measured.filter((m) => m.config === config)
  const ok = mine.filter((m) => m.run !== undefined)
  return {
    config, ok, failed: mine.length - ok.length,
    wallMs: ok.length > 0 ? median(ok.map((m) => m.run!.wallMs)) : NaN,
    cpuUs: ok.length > 0 ? median(ok.map((m) => perRecordUs(m.run!))) : NaN
  }
})
const base = summaries.find((s) => s.config.workers === 1 && s.config.jobs === 1)
const ratio = (a: number, b: number | undefined) => (b !== undefined && Number.isFinite(a) && Number.isFinite(b) ? a / b : NaN)
const times = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)}×` : '–')

const summaryRows = summaries.map((s) => [
  `${s.config.name} (${s.config.workers} worker${s.config.workers > 1 ? 's' : ''}, --concurrency ${s.config.jobs})`,
  Number.isFinite(s.wallMs) ? `${(s.wallMs / 1000).toFixed(1)} s` : '–',
  s.ok.map((m) => `${(m.run!.wallMs / 1000).toFixed(1)}`).join(', ') + (s.failed > 0 ? ` (+${s.failed} failed)` : ''),
  `**${times(ratio(base?.wallMs ?? NaN, s.wallMs))}**`,
  Number.isFinite(s.cpuUs) ? `${s.cpuUs.toFixed(1)} µs (${times(ratio(s.cpuUs, base?.cpuUs))})` : '–',
  s.ok.map((m) => formatCount(m.run!.records)).join(', '),
  s.ok.map((m) => m.run!.recall.mean.toFixed(3)).join(', '),
  s.ok.map((m) => pct(m.machine!.share)).join(', '),
  s.ok.map((m) => pct(Math.min(1, m.run!.cpuMs / Math.max(1, m.machine!.busyMs)))).join(', ')
])
const detailRows = measured.map((m) => [
  m.config.name, String(m.round),
  m.run ? `${(m.run.wallMs / 1000).toFixed(1)} s` : `failed: ${m.error}`,
  m.run ? `${formatCount(m.run.records)} (${m.run.failedRecords} failed)` : '–',
  m.run ? String(m.run.lookups) : '–',
  m.run?.where ?? '–'
])

const find = (workers: number, jobs: number) => summaries.find((s) => s.config.workers === workers && s.config.jobs === jobs)
const goal = (workers: number, target: number): string => {
  const s = find(workers, 1)
  const got = ratio(base?.wallMs ?? NaN, s?.wallMs ?? NaN)
  if (!Number.isFinite(got)) return `${workers}×1 vs 1×1: not measured.`
  return `${workers}×1 vs 1×1: **${got.toFixed(2)}×** (goal ≥ ${target}×: ${got >= target ? 'met' : `missed by ${(target - got).toFixed(2)}×, ${Math.round((1 - got / target) * 100)}% short`}).`
}
const fourWorkers = find(4, 1)
const fourJobs = find(1, 4)
const notes = [goal(2, 1.7), goal(4, 2.5)]
if (fourWorkers && fourJobs && Number.isFinite(fourWorkers.wallMs) && Number.isFinite(fourJobs.wallMs)) {
  const winner = fourWorkers.wallMs <= fourJobs.wallMs ? '4×1' : '1×4'
  notes.push(`Same total of 4 region jobs: 4×1 took ${(fourWorkers.wallMs / 1000).toFixed(1)} s, 1×4 ${(fourJobs.wallMs / 1000).toFixed(1)} s; ` +
    `**${winner}** is ${times(Math.max(fourWorkers.wallMs, fourJobs.wallMs) / Math.min(fourWorkers.wallMs, fourJobs.wallMs))} faster, ` +
    `at ${fourWorkers.cpuUs.toFixed(1)} vs ${fourJobs.cpuUs.toFixed(1)} µs of worker CPU per record.`)
}
const busy = summaries.filter((s) => s.ok.length > 0).map((s) => ({ name: s.config.name, share: median(s.ok.map((m) => m.machine!.share)) }))
const saturated = busy.filter((b) => b.share >= 0.9)
notes.push(`Median machine CPU busy: ${busy.map((b) => `${b.name} ${pct(b.share)}`).join(', ')}. ` + (saturated.length > 0
  ? `${saturated.map((b) => b.name).join(', ')} kept both cores ≥ 90% busy: there the ceiling is the CPU the servers and workers share, not round trips.`
  : 'No configuration saturated both cores.'))
if (skipped.length > 0) notes.push(`Not run, to stay within the ${options.budget}-minute budget: ${skipped.join(', ')}.`)

writeSection(options.out, 'scale-measured', [
  '## Scale-out, measured (bench:scale)',
  '',
  `Command: \`${command}\`, commit ${commit}, ${new Date().toISOString().slice(0, 10)}. One ${impl} testnet of ${nodes} real servers ` +
  `(${impl === 'mixed' ? 'half go-libp2p-kad-dht, half @libp2p/kad-dht' : impl === 'go' ? 'go-libp2p-kad-dht' : '@libp2p/kad-dht'}, in child processes) whose every kad answer waits ${latency} ± ${jitter} ms, as \`sweep testnet --latency ${latency} --jitter ${jitter}\` does; ` +
  `a real coordinator, real worker processes and Redis with AOF. Each run provides ${formatCount(cids)} fresh CIDs in a fresh Redis namespace under its own ` +
  `provider identity; configurations are interleaved (round 2 in reverse order). Wall time runs from the POST to every region and key of the cycle done ` +
  `with the queue empty. CPU per record is the worker processes' utime+stime over that window (/proc/<pid>/stat) divided by records sent. ` +
  `Machine CPU is the share of both cores busy over the window (/proc/stat, every process on the machine); workers' share is their CPU over the machine's busy CPU — the rest is ` +
  `the ${nodes} servers, Redis, the coordinator and this bench. Everything shares one 2-core machine.`,
  '',
  markdownTable(['workers × jobs', 'wall (median)', 'wall per round (s)', 'speed-up vs 1×1', 'worker CPU/record (vs 1×1)', 'records', 'recall', 'machine CPU busy', "workers' share of it"], summaryRows),
  '',
  ...notes.map((n) => `- ${n}`),
  '',
  '<details><summary>Every run: where the time went</summary>',
  '',
  markdownTable(['workers × jobs', 'round', 'wall', 'records', 'lookups', 'where the time went'], detailRows),
  '',
  '</details>'
].join('\n'))
log(`wrote ${options.out} in ${((performance.now() - benchStart) / 60_000).toFixed(1)} min`)
process.exit(0)
