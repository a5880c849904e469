/**
 * `npm run bench:rebucket`: how long an online re-bucketing of the keystore takes, what it
 * costs Redis in memory, and what it does to adds running beside it. For each size, a
 * keystore is filled past the listpack limit at too few bucket bits, then re-bucketed twice
 * on fresh servers: once idle, once beside a writer adding new keys at a steady rate.
 * Rewrites its section of BENCHMARKS.md.
 */
import { cpus, loadavg } from 'node:os'
import { Command } from 'commander'
import type { Redis } from 'ioredis'
import { Keystore } from '@sweep/store'
import { formatCount, formatDuration, markdownTable, writeSection } from './lib/markdown.ts'
import { randomMultihashes, usedMemory, withRedisServer } from './lib/redis-bench.ts'

const options = new Command()
  .option('--sizes <list>', 'CIDs in the keystore, each re-bucketed from bits to bits + 2', '1000000,10000000')
  .option('--keys-per-bucket <n>', 'mean keys per bucket before (the bits follow from it); past 1024 buckets are hashtables', '1500')
  .option('--add-batch <n>', 'keys per add call of the writer beside the re-bucketing', '5000')
  .option('--add-rate <n>', 'keys per second the writer adds (paced), alone and beside the re-bucketing', '50000')
  .option('--out <file>', 'where to write the table', 'BENCHMARKS.md')
  .parse()
  .opts()
const sizes = String(options.sizes).split(',').map(Number)
const perBucket = Number(options.keysPerBucket)
const addBatch = Number(options.addBatch)
const addRate = Number(options.addRate)
const log = (msg: string) => console.log(`[bench:rebucket] ${msg}`)
const loadAtStart = loadavg()[0]

interface Run {
  cids: number
  fromBits: number
  toBits: number
  busy: boolean
  copyMs: number
  totalMs: number
  passes: number
  bytesPerCidBefore: number
  bytesPerCidAfter: number
  peakMiB: number
  /** The paced writer beside it: keys added, and its add calls' latency alone and beside. */
  added: number
  alone?: Latency
  beside?: Latency
}

interface Latency { p50: number; p99: number; max: number; rate: number }

/**
 * Adds a batch every addBatch / addRate seconds (a steady import through the API) until
 * stop(); reports the calls' latency and the rate it kept.
 */
function writer(keystore: Keystore): { stop(): Promise<{ added: number; latency: Latency }> } {
  let stopping = false
  const started = performance.now()
  const done = (async () => {
    let added = 0
    const calls: number[] = []
    for (let n = 0; !stopping; n++) {
      const t0 = performance.now()
      added += (await keystore.addCount(randomMultihashes(addBatch))).added
      calls.push(performance.now() - t0)
      const next = started + (n + 1) * addBatch / addRate * 1000
      if (next > performance.now()) await new Promise((resolve) => setTimeout(resolve, next - performance.now()))
    }
    calls.sort((a, b) => a - b)
    const at = (q: number) => calls[Math.min(calls.length - 1, Math.floor(q * calls.length))]
    return { added, latency: { p50: at(0.5), p99: at(0.99), max: calls[calls.length - 1], rate: added / ((performance.now() - started) / 1000) } }
  })()
  return { stop: async () => { stopping = true; return done } }
}

/** used_memory once lazily freed buckets (the old generation is UNLINKed) are gone. */
async function settledMemory(redis: Redis): Promise<number> {
  for (let i = 0; i < 100 && /lazyfree_pending_objects:([1-9])/.test(await redis.info('memory')); i++) await new Promise((resolve) => setTimeout(resolve, 100))
  return usedMemory(redis)
}

async function run(cids: number, busy: boolean): Promise<Run> {
  return withRedisServer('rebucket-bench', async (redis) => {
    const fromBits = Math.max(1, Math.round(Math.log2(cids / perBucket)))
    const toBits = fromBits + 2
    const keystore = await Keystore.open(redis, { namespace: 'bench', bucketBits: fromBits })
    const empty = await usedMemory(redis)
    for (let done = 0; done < cids; done += 100_000) await keystore.addCount(randomMultihashes(Math.min(100_000, cids - done)))
    const before = await usedMemory(redis)
    log(`${formatCount(cids)} CIDs at ${fromBits} bits: ${((before - empty) / cids).toFixed(1)} B/CID; re-bucketing to ${toBits}${busy ? ' beside a writer' : ''}`)

    // the writer on its own first, for 3 s, then beside the re-bucketing
    let alone: { added: number; latency: Latency } | undefined
    if (busy) {
      const solo = writer(keystore)
      await new Promise((resolve) => setTimeout(resolve, 3000))
      alone = await solo.stop()
    }
    let peak = before
    const sampler = setInterval(() => { void usedMemory(redis).then((used) => { peak = Math.max(peak, used) }) }, 200)
    const beside = busy ? writer(keystore) : undefined
    const outcome = await (await keystore.beginRebucket(toBits))!.run({ drainMs: 1000 })
    const during = await beside?.stop()
    clearInterval(sampler)
    const total = await keystore.total()
    const expected = cids + (alone?.added ?? 0) + (during?.added ?? 0)
    const counted = await keystore.count('')
    if (total !== expected || counted !== expected) throw new Error(`after the re-bucketing: total ${total}, count ${counted}, expected ${expected}`)
    const after = await settledMemory(redis)
    const result: Run = {
      cids, fromBits, toBits, busy, copyMs: outcome.copyMs, totalMs: outcome.totalMs, passes: outcome.passes,
      bytesPerCidBefore: (before - empty) / cids, bytesPerCidAfter: (after - empty) / total, peakMiB: peak / 2 ** 20,
      added: during?.added ?? 0, alone: alone?.latency, beside: during?.latency
    }
    log(`  copy ${formatDuration(result.copyMs)}, all ${formatDuration(result.totalMs)}, ${result.passes} passes, ${result.bytesPerCidAfter.toFixed(1)} B/CID after, peak ${result.peakMiB.toFixed(0)} MiB` +
      (result.alone && result.beside ? `; writer alone ${describe(result.alone)}, beside ${describe(result.beside)}` : ''))
    return result
  })
}

function describe(latency: Latency): string {
  return `${formatCount(latency.rate)} keys/s, add call p50 ${latency.p50.toFixed(0)} / p99 ${latency.p99.toFixed(0)} / max ${latency.max.toFixed(0)} ms`
}

const runs: Run[] = []
for (const cids of sizes) for (const busy of [false, true]) runs.push(await run(cids, busy))

const table = markdownTable(
  ['CIDs', 'bits', 'beside', 'copy to switch', 'to old set deleted', 'passes over touched', 'B/CID before → after', 'peak used_memory', 'add call p50 / p99 / max: alone → beside'],
  runs.map((r) => [
    formatCount(r.cids), `${r.fromBits} → ${r.toBits}`, r.busy ? `a writer (${formatCount(r.added)} keys added)` : 'nothing',
    formatDuration(r.copyMs), formatDuration(r.totalMs), String(r.passes),
    `${r.bytesPerCidBefore.toFixed(1)} → ${r.bytesPerCidAfter.toFixed(1)} B`, `${r.peakMiB.toFixed(0)} MiB`,
    r.alone && r.beside ? `${latencies(r.alone)} → ${latencies(r.beside)} ms` : '-'
  ])
)

function latencies(l: Latency): string {
  return `${l.p50.toFixed(0)} / ${l.p99.toFixed(0)} / ${l.max.toFixed(0)}`
}

writeSection(options.out, 'rebucket', `## Keystore: online re-bucketing (bench:rebucket)

Command: \`npm run bench:rebucket\` (\`node bench/rebucket-bench.ts --sizes ${sizes.join(',')} --keys-per-bucket ${perBucket} --add-batch ${addBatch} --add-rate ${addRate}\`), ${new Date().toISOString().slice(0, 10)}, a private redis-server on 127.0.0.1 (AOF off), ${cpus().length} cores (load average ${loadAtStart.toFixed(1)} when it started).

Each size is filled with random sha2-256 multihashes at the bits that give ~${perBucket} keys per bucket (past the 1024 where Redis turns a bucket into a hashtable), then \`Rebucketing.run\` moves it to 2 more bits on a fresh server: once with nothing else running, once beside a writer calling \`addCount\` with ${formatCount(addBatch)} new keys, paced to ${formatCount(addRate)} keys/s (a steady import through the API; its calls are timed alone for 3 s just before). "Copy to switch" is from the first bucket copied to the new generation made current; "to old set deleted" adds the 1 s drain for late writes and deleting the old buckets. Redis holds both copies until then: the peak column.

${table}

Reading it:
- Adds go on throughout: each script call holds Redis for one bucket's copy, and a pipeline of copies holds about 16k members, so an add waits at most for one such pipeline (the last column). Adds are slower beside it because they take the script path (each key written to both generations) instead of native HSETs until the switch.
- Memory per CID is measured after the old generation's lazily freed buckets are gone. It falls once buckets are small enough for listpack again, and peaks at about the sum of both copies while the re-bucketing runs: leave Redis that headroom, or size \`--bucket-bits\` before a known large import.
`)
log(`wrote ${options.out}`)
