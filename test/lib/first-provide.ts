/**
 * First-provide latency: one new CID at a time, timed from handing it over to
 * the moment the testnet's servers hold its record. Shared by the test (which
 * checks outcomes) and bench:first-provide (which reports the times beside
 * go's provider).
 */
import type { Testnet } from '@sweep/testnet'
import type { ProvideKey } from '@sweep/sweep'
import { cidOf, type TestCluster } from './cluster.ts'
import type { LogLine } from './processes.ts'

/** How long after the hand-over a CID may take to reach all its holders before it counts as missing them. */
export const ALL_HOLDERS_LIMIT_MS = 15_000
/** The inspector is asked this often: the grain of every holder time. */
const POLL_MS = 20

export interface HolderTimes {
  /** ms from the hand-over until some server held the record; null if none did in time. */
  firstMs: number | null
  /** ms until every reachable one of its 20 closest live servers held it; null if not in time. */
  allMs: number | null
  /** How many of those wanted servers held it at the end. */
  held: number
  wanted: number
}

/**
 * Polls the inspector for one key's holders (records from `provider` only) until all of
 * its k closest live, reachable servers hold it or the limit passes. `unreachable` are the
 * tarpits: they are live but nobody can reach them, so they are not wanted.
 */
export async function watchHolders(
  testnet: Testnet, key: ProvideKey, provider: string, since: number, unreachable: ReadonlySet<string>, limitMs = ALL_HOLDERS_LIMIT_MS
): Promise<HolderTimes> {
  const wanted = testnet.trueClosest(key.multihash, 20, { liveOnly: true }).filter((id) => !unreachable.has(id))
  let firstMs: number | null = null
  for (;;) {
    const [holders] = await testnet.holdersOfMany([key.multihash], provider)
    const at = performance.now() - since
    const set = new Set(holders)
    const held = wanted.filter((id) => set.has(id)).length
    if (firstMs === null && holders.length > 0) firstMs = at
    if (held === wanted.length) return { firstMs, allMs: at, held, wanted: wanted.length }
    if (at > limitMs) return { firstMs, allMs: null, held, wanted: wanted.length }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS))
  }
}

/** Where one of our provides spent its time, in ms, from the worker's and the bench's clocks. */
export interface OurBreakdown {
  /** POST sent → its answer (keys stored, bucket marked dirty). */
  intake: number
  /** Answer → the coordinator enqueued the burst job. */
  coordinator: number
  /** Enqueued → a worker started the job. */
  queue: number
  /** Job start → first lookup: reading the region's keys. */
  keys: number
  lookup: number
  /** Lookup done → the first record written: dial, stream, write. */
  firstSend: number
  /** First record written → the inspector saw a holder (the server's handling plus the poll's grain). */
  seen: number
}

export interface OurSample extends HolderTimes {
  cid: string
  mode: string
  lookups: number
  breakdown?: OurBreakdown
}

/**
 * Posts each key alone to the cluster, waits for its holders and for its job to end,
 * then the next. Call after the schedule's first pass (waitForCycle), so each CID is a
 * burst job of its own and nothing else runs meanwhile.
 */
export async function oursOneByOne(
  cluster: TestCluster, testnet: Testnet, keys: readonly ProvideKey[], provider: string,
  unreachable: ReadonlySet<string> = new Set(), onSample: (s: OurSample, i: number) => void = () => {}
): Promise<OurSample[]> {
  const samples: OurSample[] = []
  for (const [i, key] of keys.entries()) {
    const doneBefore = cluster.workerLog('region done').length
    const t0 = performance.now()
    const postedAt = Date.now()
    const cid = cidOf(key.multihash)
    await cluster.provide([cid])
    const answeredAt = Date.now()
    const times = await watchHolders(testnet, key, provider, t0, unreachable)
    const done = await waitForLine(cluster, 'region done', doneBefore)
    const started = cluster.workerLog('region started').find((l) => l.jobId === done.jobId && Number(l.time) >= postedAt)
    const sample: OurSample = { cid, ...times, mode: String(done.mode), lookups: Number(done.lookups), breakdown: breakdownOf(postedAt, answeredAt, started, done, times) }
    samples.push(sample)
    onSample(sample, i)
  }
  return samples
}

async function waitForLine(cluster: TestCluster, msg: string, after: number, timeoutMs = 60_000): Promise<LogLine & { worker: string }> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const lines = cluster.workerLog(msg)
    if (lines.length > after) return lines[after]
    if (Date.now() > deadline) throw new Error(`no '${msg}' line within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

interface JobTiming { lookupMs: number; firstLookupMs: number | null; firstRecordMs: number | null }

function breakdownOf(postedAt: number, answeredAt: number, started: LogLine | undefined, done: LogLine, times: HolderTimes): OurBreakdown | undefined {
  const timing = done.timing as JobTiming | undefined
  if (started === undefined || timing === undefined || timing.firstRecordMs === null || times.firstMs === null) return undefined
  const enqueuedAt = Number(started.enqueuedAt)
  const startedAt = enqueuedAt + Number(started.waitedMs)
  const firstRecordAt = startedAt + timing.firstRecordMs
  return {
    intake: answeredAt - postedAt,
    coordinator: enqueuedAt - answeredAt,
    queue: Number(started.waitedMs),
    keys: timing.firstLookupMs ?? 0,
    lookup: timing.lookupMs,
    firstSend: timing.firstRecordMs - (timing.firstLookupMs ?? 0) - timing.lookupMs,
    seen: postedAt + times.firstMs - firstRecordAt
  }
}

/** The p-th percentile (0..100) by nearest rank; a null (missed) counts as worse than any time. */
export function percentile(values: ReadonlyArray<number | null>, p: number): number | null {
  const sorted = [...values].sort((a, b) => (a === null ? 1 : b === null ? -1 : a - b))
  if (sorted.length === 0) return null
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]
}

export function formatMs(ms: number | null): string {
  return ms === null ? 'missed' : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`
}
