import { kadKeyOf, prefixesOfLength, type Prefix } from '@sweep/keyspace'
import { estimateNetworkSize, regionPrefixLength, type LookupSample } from './network-size.ts'
import type { ClosestPeersRouter } from './ports.ts'
import type { RegionReport } from './report.ts'
import type { Sweeper } from './sweeper.ts'

export interface NetworkEstimate {
  readonly size: number
  /** The prefix length at which regions start: each such prefix holds about k to 2k peers. */
  readonly prefixLength: number
  readonly lookups: number
}

/** Estimates the network size from a few lookups at unrelated targets. */
export async function sampleNetwork(router: ClosestPeersRouter, k: number, lookups = 4): Promise<NetworkEstimate> {
  const samples: LookupSample[] = []
  for (let i = 0; i < lookups; i++) {
    const preimage = new TextEncoder().encode(`sweep-network-size-${i}`)
    samples.push({ target: kadKeyOf(preimage), peers: await router.getClosestPeers(preimage) })
  }
  const size = estimateNetworkSize(samples)
  return { size, prefixLength: regionPrefixLength(size, k), lookups }
}

export interface CycleTotals {
  regions: number
  keys: number
  recordsSent: number
  recordsFailed: number
  recordsReplaced: number
  lookups: number
  peersReached: number
  peersFailed: number
  failedRegions: number
  /** Sum of region durations: the time one host is busy per cycle. */
  busyMs: number
}

export function emptyTotals(): CycleTotals {
  return { regions: 0, keys: 0, recordsSent: 0, recordsFailed: 0, recordsReplaced: 0, lookups: 0, peersReached: 0, peersFailed: 0, failedRegions: 0, busyMs: 0 }
}

export function addReport(totals: CycleTotals, r: RegionReport): void {
  totals.regions++
  totals.keys += r.keys
  totals.recordsSent += r.recordsSent
  totals.recordsFailed += r.recordsFailed
  totals.recordsReplaced += r.recordsReplaced ?? 0
  totals.lookups += r.lookups
  totals.peersReached += r.peersReached
  totals.peersFailed += r.peersFailed
  totals.failedRegions += r.succeeded ? 0 : 1
  totals.busyMs += r.durationMs
}

/**
 * One full cycle on one host: every prefix of the given length, in keyspace order,
 * back to back. The cluster spreads the same regions over the interval instead;
 * this is what tests and benchmarks measure.
 */
export async function sweepAll(
  sweeper: Sweeper,
  prefixLength: number,
  onRegion?: (report: RegionReport, done: number, total: number) => void,
  include: (prefix: Prefix) => boolean = () => true
): Promise<{ totals: CycleTotals; reports: RegionReport[] }> {
  const prefixes: Prefix[] = prefixesOfLength(prefixLength).filter(include)
  const totals = emptyTotals()
  const reports: RegionReport[] = []
  for (const prefix of prefixes) {
    const report = await sweeper.sweepRegion(prefix)
    addReport(totals, report)
    reports.push(report)
    onRegion?.(report, reports.length, prefixes.length)
  }
  return { totals, reports }
}
