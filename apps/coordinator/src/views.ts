import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { decode as decodeDigest } from 'multiformats/hashes/digest'
import { kadKeyOf, RegionIndex, type KadKey } from '@sweep/keyspace'
import { cycleNumber, nextSlot, slotTime, type CycleClock } from '@sweep/sweep'
import type { RegionQueue } from '@sweep/queue'
import type { AnyKeystore, LeaderLease, RegionRecord, ScheduleStore } from '@sweep/store'
import { multihashOf } from './api/cid-lines.ts'
import { HttpError } from './api/http.ts'

/** Window over which the provide rate is reported, once the cluster is older than it. */
const RATE_WINDOW_MS = 10 * 60_000
/** The shortest window: a rate over the first seconds of a cluster would swing with every region. */
const RATE_MIN_WINDOW_MS = 10_000

export interface ViewDeps {
  readonly keystore: AnyKeystore
  readonly schedule: ScheduleStore
  readonly queue: RegionQueue
  readonly lease: LeaderLease
  readonly intervalMs: number
  readonly self: KadKey
  readonly k: number
}

async function cycleClock(deps: ViewDeps): Promise<CycleClock | undefined> {
  const cycleStart = await deps.schedule.cycleStart()
  return cycleStart === undefined ? undefined : { cycleStart, intervalMs: deps.intervalMs, self: deps.self }
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex')
}

/** `GET /v1/stats`: the cluster at a glance, like `ipfs provide stat`. */
export async function statsView(deps: ViewDeps, now: number): Promise<object> {
  const [total, regionMap, queues, workers, counters, network, leader, clock, bits, rebucketing] = await Promise.all([
    deps.keystore.total(), deps.schedule.regions(), deps.queue.counts(), deps.schedule.workers(),
    deps.schedule.counters(), deps.schedule.network(), deps.lease.holder(), cycleClock(deps),
    deps.keystore.currentBits(), deps.keystore.rebucketState()
  ])
  const regions = [...regionMap.values()]
  // a cluster younger than the window is averaged over its age: over the full 10 min, 11k keys
  // provided in a demo's first 30 s read as 1.1k keys/min
  const rateWindowMs = Math.max(RATE_MIN_WINDOW_MS, Math.min(RATE_WINDOW_MS, now - (clock?.cycleStart ?? now)))
  const recent = regions.filter((r) => r.lastReprovide !== undefined && now - r.lastReprovide < rateWindowMs)
  const latest = regions.reduce<RegionRecord | undefined>((a, r) => ((r.lastAttempt ?? 0) > (a?.lastAttempt ?? 0) ? r : a), undefined)
  return {
    keys: {
      total,
      regions: regions.length,
      avgRegionSize: regions.length === 0 ? 0 : total / regions.length,
      avgPrefixLength: regions.length === 0 ? 0 : regions.reduce((s, r) => s + r.prefix.length, 0) / regions.length,
      bucketBits: bits,
      rebucketing: rebucketing === undefined ? null : {
        fromBits: rebucketing.fromBits, toBits: rebucketing.toBits, phase: rebucketing.phase,
        bucketsCopied: rebucketing.cursor, buckets: 2 ** rebucketing.fromBits
      }
    },
    queues,
    workers,
    cycle: cycleView(regions, clock, now),
    provides: {
      recordsSent: counters.recordsSent ?? 0,
      recordsFailed: counters.recordsFailed ?? 0,
      recordsReplaced: counters.recordsReplaced ?? 0,
      keysProvided: counters.keysProvided ?? 0,
      keysPerMinute: recent.reduce((s, r) => s + r.keys, 0) / (rateWindowMs / 60_000),
      rateWindowMs,
      lookups: counters.lookups ?? 0,
      regionsOk: counters.regionsOk ?? 0,
      regionsFailed: counters.regionsFailed ?? 0,
      regionsEmpty: counters.regionsEmpty ?? 0,
      regionsReswept: counters.regionsReswept ?? 0,
      lastRegionAt: latest?.lastAttempt ?? null
    },
    network: {
      size: network?.size ?? 0,
      prefixLength: network?.prefixLength ?? 0,
      measuredAt: network?.measuredAt ?? null,
      reachablePeers: regions.reduce((s, r) => s + r.peers, 0),
      unreachablePeers: counters.peersFailed ?? 0,
      connectivity: latest === undefined ? 'unknown' : latest.outcome === 'failed' ? 'offline' : 'online'
    },
    leader: leader === undefined ? null : { id: leader }
  }
}

/** Where the current cycle stands: its number, how far into it now is, the regions provided in it. */
export function cycleProgress(regions: Iterable<RegionRecord>, clock: CycleClock, now: number): { number: number; offsetMs: number; done: RegionRecord[] } {
  const number = cycleNumber(clock, now)
  const cycleBegan = clock.cycleStart + number * clock.intervalMs
  return { number, offsetMs: now - cycleBegan, done: [...regions].filter((r) => r.lastReprovide !== undefined && r.lastReprovide >= cycleBegan) }
}

function cycleView(regions: readonly RegionRecord[], clock: CycleClock | undefined, now: number): object {
  if (clock === undefined) {
    return { start: null, intervalMs: null, number: 0, offsetMs: 0, regionsDone: 0, regionsTotal: regions.length, keysProvided: 0, nextRegion: null, nextAt: null }
  }
  const { number, offsetMs, done } = cycleProgress(regions, clock, now)
  const next = nextSlot(regions, clock, now)
  return {
    start: clock.cycleStart,
    intervalMs: clock.intervalMs,
    number,
    offsetMs,
    regionsDone: done.length,
    regionsTotal: regions.length,
    keysProvided: done.reduce((s, r) => s + r.keys, 0),
    nextRegion: next?.prefix ?? null,
    nextAt: next?.at ?? null
  }
}

/** `GET /v1/cids/{cid}`: where a CID sits in the schedule. */
export async function cidView(deps: ViewDeps, text: string, now: number): Promise<object> {
  let multihash: Uint8Array
  try {
    multihash = multihashOf(text)
  } catch (error) {
    throw new HttpError(400, `"${text}": ${(error as Error).message}`)
  }
  const key = kadKeyOf(multihash)
  const [{ stored, once }, regionMap, clock] = await Promise.all([deps.keystore.lookup(multihash), deps.schedule.regions(), cycleClock(deps)])
  const base = { cid: text, stored, once, kadKey: hex(key) }
  if (regionMap.size === 0) return { ...base, region: null, lastProvide: null, outcome: null, nextSlot: null, expectedHolders: deps.k }
  const region = regionMap.get(new RegionIndex(regionMap.keys()).regionOf(key))
  let next: number | null = null
  if (clock !== undefined && region !== undefined) {
    const cycle = cycleNumber(clock, now)
    const slot = slotTime(clock, region.prefix, cycle)
    next = slot > now && (region.lastReprovide ?? 0) < slot ? slot : slotTime(clock, region.prefix, cycle + 1)
  }
  return {
    ...base,
    region: region?.prefix ?? null,
    lastProvide: region?.lastReprovide ?? null,
    outcome: region?.outcome ?? null,
    nextSlot: stored ? next : null,
    expectedHolders: deps.k
  }
}

/** `GET /v1/sample?n=N`: random stored CIDs, for `sweep verify`. */
export async function sampleView(deps: ViewDeps, n: number): Promise<object> {
  const multihashes = await deps.keystore.sample(n)
  return { cids: multihashes.map((mh) => CID.createV1(raw.code, decodeDigest(mh)).toString()) }
}
