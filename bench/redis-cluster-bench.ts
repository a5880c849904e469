/**
 * `npm run bench:redis-cluster`: the keystore on one Redis against a real local Redis
 * Cluster (3 masters, 3 replicas), side by side in one run: import rate through addCount as
 * the API calls it, the rate at which a region job streams keys back, Redis memory per CID
 * summed over the masters, and how evenly the shards spread. Rewrites its section of
 * BENCHMARKS.md.
 */
import { cpus, loadavg } from 'node:os'
import { Command } from 'commander'
import type { Redis } from 'ioredis'
import { connectRedis, openKeystore, waitForRedis, type AnyKeystore } from '@sweep/store'
import { formatCount, markdownTable, writeSection } from './lib/markdown.ts'
import { randomMultihashes, usedMemory, withRedisCluster, withRedisServer } from './lib/redis-bench.ts'

const options = new Command()
  .option('--cids <n>', 'CIDs imported per configuration', '1000000')
  .option('--batch <n>', 'keys per addCount call (the API takes 131,072 per call)', '131072')
  .option('--out <file>', 'where to write the table', 'BENCHMARKS.md')
  .parse()
  .opts()
const cids = Number(options.cids)
const batch = Number(options.batch)
const log = (msg: string) => console.log(`[bench:redis-cluster] ${msg}`)
const loadAtStart = loadavg()[0]

interface Run {
  name: string
  shards: number
  importRate: number
  readRate: number
  bytesPerCid: number
  /** Share of the keystore's memory on each master. */
  spread: number[]
}

/** Imports and streams back `cids` keys; `masters` are plain clients of each master, for memory. */
async function measure(name: string, redis: Redis, masters: Redis[], shards: number): Promise<Run> {
  const before = await Promise.all(masters.map(usedMemory))
  const keystore = await openKeystore(redis, { namespace: 'bench', shards })
  const started = performance.now()
  const inFlight: Promise<unknown>[] = []
  for (let done = 0; done < cids; done += batch) {
    // two calls in flight, as the API keeps them, so parsing (here: making keys) overlaps Redis
    if (inFlight.length >= 2) await inFlight.shift()
    inFlight.push(keystore.addCount(randomMultihashes(Math.min(batch, cids - done)), { markDirty: true }))
  }
  await Promise.all(inFlight)
  const importRate = cids / ((performance.now() - started) / 1000)
  const total = await keystore.total()
  if (total !== cids) throw new Error(`${name}: the keystore holds ${total} keys, ${cids} were added`)
  const readRate = await streamRate(keystore)
  const grown = (await Promise.all(masters.map(usedMemory))).map((after, i) => after - before[i])
  const sum = grown.reduce((a, b) => a + b, 0)
  log(`${name}: ${formatCount(importRate)} CIDs/s in, ${formatCount(readRate)} keys/s out, ${(sum / cids).toFixed(1)} B/CID`)
  return { name, shards: keystore.shards.length, importRate, readRate, bytesPerCid: sum / cids, spread: grown.map((g) => g / sum) }
}

async function streamRate(keystore: AnyKeystore): Promise<number> {
  const started = performance.now()
  let n = 0
  for await (const keys of keystore.keys('', 10_000)) n += keys.length
  return n / ((performance.now() - started) / 1000)
}

async function onCluster(name: string, wait: number): Promise<Run> {
  return withRedisCluster(async (cluster, masters) => {
    const url = `${cluster.url}?wait=${wait}`
    const redis = connectRedis(url, { name: 'bench' })
    try {
      await waitForRedis(redis, url)
      return await measure(name, redis, masters, 64)
    } finally {
      redis.disconnect()
    }
  })
}

const runs: Run[] = [
  await withRedisServer('bench-one', (redis) => measure('one Redis', redis, [redis], 1)),
  await withRedisServer('bench-one-sharded', (redis) => measure('one Redis, 64 shards', redis, [redis], 64)),
  await onCluster('cluster, wait=0', 0),
  await onCluster('cluster, wait=1 (the default)', 1)
]
const base = runs[0]
const table = markdownTable(
  ['Redis', 'shards', 'import CIDs/s', 'vs one Redis', 'stream keys/s', 'B/CID (all masters)', 'share per master'],
  runs.map((r) => [
    r.name, String(r.shards), formatCount(r.importRate), `${(r.importRate / base.importRate).toFixed(2)}×`, formatCount(r.readRate),
    r.bytesPerCid.toFixed(1), r.spread.map((s) => `${Math.round(100 * s)}%`).join(' / ')
  ])
)

writeSection(options.out, 'redis-cluster', `## Keystore on a Redis Cluster (bench:redis-cluster)

Command: \`npm run bench:redis-cluster\` (\`node bench/redis-cluster-bench.ts --cids ${cids} --batch ${batch}\`), ${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores (load average ${loadAtStart.toFixed(1)} when it started), AOF off everywhere.

Each row imports ${formatCount(cids)} random sha2-256 multihashes through \`addCount\` with dirty marks, ${formatCount(batch)} per call and two calls in flight (as the API does), then streams them all back as a region job reads keys. The cluster is 3 masters and 3 replicas on this machine (\`startRedisCluster\`), reached through a \`redis+cluster://\` URL; \`wait=1\` makes every keystore write wait for its replica (WAIT), the default. Memory is the growth of \`used_memory\` summed over the masters (replicas hold as much again).

${table}

Reading it:
- All seven processes (six redis-servers and this one) share ${cpus().length} cores here, so the cluster rows show the cost of sharding and of waiting for replicas, not the capacity a cluster adds: on separate machines each master has its own core and memory, and the masters' shares of the set are the last column.
- "One Redis" adds natively (bare HSETs over a second connection, 40% cheaper for Redis than the same writes from Lua). Sharding splits each call into 64 smaller ones, each with its own fixed cost; on a cluster adds take the Lua script, since a bare connection reaches one node. Waiting for replicas (wait=1) adds a replication round trip per call; on this machine the two cluster rows differ by no more than one run differs from the next.
- The shards spread evenly because shard i's hash tag is chosen to fall in the i-th 64th of the slots (\`shardTag\`); tags left to chance gave one master well over a third of the set and another a quarter.
- Memory per CID stays what one Redis needs: each shard's buckets stay listpack-encoded as they grow (each shard re-buckets on its own). The dirty marks of the import are still in Redis here (the leader would take them).
`)
log(`wrote ${options.out}`)
