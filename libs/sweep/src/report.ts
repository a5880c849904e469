import type { Prefix } from '@sweep/keyspace'

export type RegionMode = 'empty' | 'plain' | 'sweep'

/** What a region job did, for the schedule, stats and metrics. */
export interface RegionReport {
  /** The prefix the job was for: its keys were the ones provided. */
  readonly prefix: Prefix
  /** Whose peers served the keys: the prefix, or an ancestor when the prefix held fewer than k peers. */
  readonly peerPrefix: Prefix
  /** Regions (≥ k peers, not splittable) found that meet the prefix, with their peer counts. */
  readonly regions: ReadonlyArray<{ readonly prefix: Prefix; readonly peers: number }>
  readonly mode: RegionMode
  /** Whether every reachable peer of the peer prefix was proven known (always false for plain). */
  readonly complete: boolean
  readonly keys: number
  readonly recordsSent: number
  readonly recordsFailed: number
  /** Records sent to the next closest live peer because a closer one failed (counted in recordsSent too). */
  readonly recordsReplaced?: number
  readonly peersFound: number
  readonly peersReached: number
  readonly peersFailed: number
  readonly lookups: number
  readonly durationMs: number
  /** Of durationMs, the time until the region's peers were known (swept regions only); the rest went to sending. */
  readonly exploreMs?: number
  /**
   * Peers the worker's host found dead while the job ran (kad-key prefixes, with
   * when), wherever they sit: the coordinator re-sweeps regions that lost holders.
   * Added by the worker, which sees its host's failures; the algorithm does not.
   */
  readonly deadPeers?: ReadonlyArray<{ readonly prefix: Prefix; readonly at: number }>
  /** The region counts as reprovided when at least successRatio of the peers it targeted took their records. */
  readonly succeeded: boolean
}
