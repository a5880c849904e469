/**
 * One measured provide by our cluster (real coordinator and worker
 * processes) and one by go's SweepingProvider (bench/gosweep), on the same
 * testnet and CIDs, each under its own identity so placement is scored per
 * provider. What both report: wall time, lookups, connections, records,
 * recall and CPU.
 */
import { execFile } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { generateIdentity } from '@sweep/dht'
import { goProgram, type Recall, type Testnet } from '@sweep/testnet'
import type { ProvideKey } from '@sweep/sweep'
import { cidOf, TestCluster, type Stats } from '../../test/lib/cluster.ts'
import type { LogLine } from '../../test/lib/processes.ts'

export const ANNOUNCE = '/ip4/127.0.0.1/tcp/4001'
const GOSWEEP_SOURCE = fileURLToPath(new URL('../gosweep/', import.meta.url))

export interface RunResult {
  label: string
  /** Peer id the records were sent under. */
  provider: string
  /** Joining the network before the timed provide (go's provider only; our workers join before the POST). */
  setupMs: number
  wallMs: number
  lookups: number
  connections: number
  records: number
  failedRecords: number
  cpuMs: number
  recall: Recall
  /** Where the time went, in words. */
  where: string
}

/** utime + stime of a process in ms, from /proc (clock ticks are 100 Hz on Linux). */
export async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}

interface HostTotals { connectionsOpened: number; findNodeRpcs: number; lookups: number; lookupsCut: number }

export interface OursOptions {
  testnet: Testnet
  redisUrl: string
  dir: string
  keys: readonly ProvideKey[]
  workers: number
  /** Region jobs per worker. */
  concurrency?: number
  namespace: string
  /** Called right after the CIDs are handed over, e.g. to schedule a fault mid-provide. */
  afterPost?: () => void
  /** Also wait for the re-sweeps the provide caused before measuring (wall time stops at the first pass). */
  settle?: boolean
  /** Coordinator --resweep-delay. */
  resweepDelay?: string
  /** Give up on the provide after this long (default 30 min); the cluster is stopped either way. */
  timeoutMs?: number
}

export async function runOurs(o: OursOptions): Promise<RunResult> {
  const identityFile = join(o.dir, `${o.namespace}.key`)
  await generateIdentity(identityFile)
  const cluster = new TestCluster({
    redisUrl: o.redisUrl, bootstrap: o.testnet.bootstrap, identityFile, namespace: o.namespace, concurrency: o.concurrency ?? 1, resweepDelay: o.resweepDelay
  })
  try {
    await cluster.startCoordinator('coordinator')
    const names = Array.from({ length: o.workers }, (_, i) => `worker-${i + 1}`)
    await Promise.all(names.map((n) => cluster.startWorker(n)))
    const pids = [...cluster.workers.values()].map((w) => w.child.pid!)
    const cpu0 = await Promise.all(pids.map(cpuMs))
    const t0 = performance.now()
    await cluster.provide(o.keys.map((k) => cidOf(k.multihash)))
    o.afterPost?.()
    const stats: Stats = await cluster.waitForCycle(o.timeoutMs ?? 1_800_000)
    const wallMs = performance.now() - t0
    const settled = o.settle === true ? await cluster.waitForResweeps(1_800_000) : undefined
    const settledMs = performance.now() - t0
    const cpu1 = await Promise.all(pids.map(cpuMs))
    const done = cluster.workerLog('region done')
    const started = cluster.workerLog('region started')
    const sum = (lines: LogLine[], f: (l: LogLine) => number) => lines.reduce((s, l) => s + f(l), 0)
    // per worker: host totals at its last region's end minus at its first region's start
    const hostDelta = (field: keyof HostTotals) => names.reduce((s, w) => {
      const first = started.find((l) => l.worker === w)?.host as HostTotals | undefined
      const last = done.filter((l) => l.worker === w).at(-1)?.host as HostTotals | undefined
      return s + (first && last ? last[field] - first[field] : 0)
    }, 0)
    const firstPass = settled === undefined ? done : done.filter((l) => l.reason !== 'resweep')
    const busy = sum(firstPass, (l) => Number(l.ms))
    const exploring = sum(firstPass, (l) => Number(l.exploreMs ?? 0))
    const replaced = sum(done, (l) => Number(l.replaced ?? 0))
    const provider = stats.workers[0].peerId
    return {
      provider,
      setupMs: 0,
      label: `sweep, ${o.workers} worker${o.workers > 1 ? 's' : ''}${(o.concurrency ?? 1) > 1 ? ` × ${o.concurrency} jobs` : ''}`,
      wallMs,
      lookups: sum(done, (l) => Number(l.lookups)),
      connections: hostDelta('connectionsOpened'),
      records: sum(done, (l) => Number(l.sent)),
      failedRecords: sum(done, (l) => Number(l.failed)),
      cpuMs: cpu1.reduce((s, c, i) => s + c - cpu0[i], 0),
      recall: await o.testnet.recall(o.keys.map((k) => k.multihash), 20, { provider }),
      where: `${firstPass.length} region jobs; of their busy time ${pct(exploring, busy)} exploring (${hostDelta('findNodeRpcs')} FIND_NODE, ` +
        `${hostDelta('lookupsCut')} lookups cut short), ${pct(busy - exploring, busy)} sending; workers busy ${pct(busy, wallMs * o.workers * (o.concurrency ?? 1))} of the wall time` +
        (replaced > 0 ? `; ${formatInt(replaced)} records re-placed around failed peers` : '') +
        (settled === undefined ? '' : `; ${settled.ran} re-sweeps, settled at ${(settledMs / 1000).toFixed(1)} s`)
    }
  } finally {
    await cluster.stop()
  }
}

interface GoResult {
  peerId: string; wallMs: number; lookups: number; connections: number; records: number; failedRecords: number; cpuMs: number
  lastRecordMs: number; setupMs: number; setupLookups: number; setupConnections: number; scheduledRegions: number
  keysProvided: number; keysFailed: number; lookupErrors: number; timedOut: boolean; error?: string; notes: string[]
}

export async function runGo(o: { testnet: Testnet; dir: string; keys: readonly ProvideKey[]; name: string; log: (m: string) => void }): Promise<RunResult> {
  const built = await goProgram(GOSWEEP_SOURCE, 'gosweep', o.log)
  if (built.path == null) throw new Error(`go's provider can't run: ${built.reason}`)
  const identity = join(o.dir, `${o.name}.key`)
  await generateIdentity(identity)
  const cidsFile = join(o.dir, `${o.name}.cids`)
  await writeFile(cidsFile, o.keys.map((k) => cidOf(k.multihash)).join('\n') + '\n')
  let stdout: string
  try {
    ({ stdout } = await promisify(execFile)(built.path, [
      '--bootstrap', o.testnet.bootstrap.join(','), '--cids', cidsFile, '--identity', identity, '--announce', ANNOUNCE, '--timeout', '30m'
    ], { maxBuffer: 64 << 20 }))
  } catch (err) {
    stdout = (err as { stdout?: string }).stdout ?? ''
    if (stdout === '') throw err
  }
  const r = JSON.parse(stdout) as GoResult
  if (r.error != null || r.timedOut) o.log(`go provider ended badly: ${r.error ?? 'timed out'}`)
  return {
    label: "go's SweepingProvider (kad-dht v0.42.2)",
    provider: r.peerId,
    setupMs: r.setupMs,
    wallMs: r.wallMs,
    lookups: r.lookups,
    connections: r.connections,
    records: r.records,
    failedRecords: r.failedRecords,
    cpuMs: r.cpuMs,
    recall: await o.testnet.recall(o.keys.map((k) => k.multihash), 20, { provider: r.peerId }),
    where: `last record at ${(r.lastRecordMs / 1000).toFixed(1)} s; ${r.scheduledRegions} regions; ${r.lookupErrors} lookup errors; ` +
      `joining beforehand (untimed): ${(r.setupMs / 1000).toFixed(1)} s, ${r.setupLookups} lookups, ${r.setupConnections} connections` +
      (r.keysFailed > 0 ? `; ${r.keysFailed} keys failed` : '')
  }
}

function formatInt(n: number): string {
  return n.toLocaleString('en-US')
}

function pct(part: number, whole: number): string {
  return whole > 0 ? `${Math.round((100 * part) / whole)}%` : '–'
}
