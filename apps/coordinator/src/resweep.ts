import { isAncestorOrSelf, PrefixTrie, type Prefix } from '@sweep/keyspace'
import type { RegionReport } from '@sweep/sweep'
import type { RegionRecord } from '@sweep/store'

export interface ResweepPolicy {
  /**
   * A region is swept again when at least this share of its peers is known to
   * have failed: of the peers its own job sent to, or of its holders, by other
   * jobs' reports of dead peers inside it after it was last swept.
   */
  readonly failureShare: number
  /** How long after the evidence the region is swept again: long enough for churn to settle. */
  readonly delayMs: number
  /** Re-sweeps per region and cycle, so a region that keeps failing falls back to its slot. */
  readonly maxPerCycle: number
}

export const defaultResweep: ResweepPolicy = { failureShare: 0.1, delayMs: 60_000, maxPerCycle: 2 }

/** Dead holders found in a region after its last sweep; two are needed before any share counts. */
const MIN_DEAD_HOLDERS = 2
/** Deaths seen in two regions within this long are one burst. */
const CHURN_WINDOW_MS = 10 * 60_000

/**
 * Regions to explore and send again soon because many of their peers failed.
 * Keys meant for a peer that failed mid-job were re-placed in the job itself, but
 * peers that took their records before dying lost them: the region's own job
 * sees that as a high failure share, and a region swept before the deaths
 * learns of them from later jobs, whose lookups and sends report the dead peers
 * they met wherever these sit in the keyspace.
 */
export class ResweepPlan {
  private readonly policy: ResweepPolicy
  private readonly due = new Map<Prefix, number>()
  /** Re-sweeps queued per region in the current cycle. */
  private readonly done = new Map<Prefix, { cycle: number; count: number }>()
  /**
   * Dead peers (kad-key prefixes, with when) reported inside each region since it was
   * last swept. Only the last few minutes count: Amino's steady churn takes a region's
   * holders slowly, which the next slot and k = 20 replicas absorb.
   */
  private readonly dead = new Map<Prefix, Map<Prefix, number>>()
  /** Regions where deaths were seen lately, with when the first was seen: evidence of a burst. */
  private readonly evidence = new Map<Prefix, number>()

  constructor(policy: ResweepPolicy) {
    this.policy = policy
  }

  /** Considers a finished job's report of its own region; returns the re-sweep time when one is planned. */
  consider(report: RegionReport, cycle: number, now: number): number | undefined {
    const targeted = report.peersReached + report.peersFailed
    if (report.mode === 'empty' || targeted === 0 || report.peersFailed / targeted < this.policy.failureShare) return undefined
    if (report.peersFailed >= MIN_DEAD_HOLDERS) this.witness(report.prefix, now - report.durationMs)
    return this.plan(report.prefix, cycle, now)
  }

  /** The region was just swept: what was reported dead inside it before is history. */
  swept(prefix: Prefix): void {
    for (const region of this.dead.keys()) if (isAncestorOrSelf(prefix, region) || isAncestorOrSelf(region, prefix)) this.dead.delete(region)
  }

  /**
   * Dead peers a job met, each with when its host found it dead. One counts against
   * the region holding its key if that region was last swept before the death was
   * seen, so it may have held records. Returns the regions newly planned.
   */
  noteDead(
    deadPeers: ReadonlyArray<{ readonly prefix: Prefix; readonly at: number }>,
    regions: ReadonlyMap<Prefix, RegionRecord>,
    cycle: number,
    now: number
  ): Prefix[] {
    if (deadPeers.length === 0) return []
    const trie = new PrefixTrie<RegionRecord>()
    for (const r of regions.values()) trie.set(r.prefix, r)
    const planned: Prefix[] = []
    const seen = new Map<Prefix, { count: number; first: number }>()
    for (const peer of deadPeers) {
      const region = trie.longestMatch(peer.prefix)?.value
      if (region === undefined) continue
      const tally = seen.get(region.prefix) ?? { count: 0, first: peer.at }
      seen.set(region.prefix, { count: tally.count + 1, first: Math.min(tally.first, peer.at) })
      if (region.lastReprovide === undefined || peer.at <= region.lastReprovide) continue
      const dead = this.dead.get(region.prefix) ?? new Map<Prefix, number>()
      this.dead.set(region.prefix, dead)
      dead.set(peer.prefix, peer.at)
      for (const [p, at] of dead) if (at < now - CHURN_WINDOW_MS) dead.delete(p)
      if (dead.size < this.deadEnough(region)) continue
      if (this.plan(region.prefix, cycle, now) !== undefined) planned.push(region.prefix)
    }
    for (const [region, { count, first }] of seen) if (count >= this.deadEnough(regions.get(region)!)) this.witness(region, first)
    return planned
  }

  private deadEnough(region: RegionRecord): number {
    return Math.max(MIN_DEAD_HOLDERS, this.policy.failureShare * region.peers)
  }

  private witness(region: Prefix, at: number): void {
    this.evidence.set(region, Math.min(at, this.evidence.get(region) ?? at))
  }

  /**
   * A burst of deaths. Deaths are random in the keyspace, so when two regions or
   * more show them within a few minutes (a job's failure share over the threshold,
   * or dead peers reported inside them), servers are dying across the network,
   * and every region swept earlier in this cycle lost about as large a share of
   * its holders. They are all planned, once per burst. Returns them.
   */
  churnAlarm(regions: ReadonlyMap<Prefix, RegionRecord>, since: { cycle: number; cycleBegan: number }, now: number): Prefix[] {
    for (const [region, at] of this.evidence) if (at < now - CHURN_WINDOW_MS) this.evidence.delete(region)
    if (this.evidence.size < 2) return []
    // From the second region on: a lone region of deaths before it is churn, or another
    // failure, and dating the burst from it would skip every region swept in between
    const burstBegan = [...this.evidence.values()].sort((a, b) => a - b)[1]
    this.evidence.clear()
    const planned: Prefix[] = []
    for (const r of regions.values()) {
      const swept = r.lastReprovide
      if (swept === undefined || swept < since.cycleBegan || swept >= burstBegan) continue
      if (this.plan(r.prefix, since.cycle, now) !== undefined) planned.push(r.prefix)
    }
    return planned
  }

  /** Re-sweeps whose time has come, each with its number in this cycle (1, 2, ...); they leave the plan. */
  take(now: number, cycle: number, isBusy: (prefix: Prefix) => boolean): Array<{ prefix: Prefix; number: number }> {
    const out: Array<{ prefix: Prefix; number: number }> = []
    for (const [prefix, at] of this.due) {
      if (at > now || isBusy(prefix)) continue
      this.due.delete(prefix)
      const prior = this.done.get(prefix)
      const number = (prior?.cycle === cycle ? prior.count : 0) + 1
      this.done.set(prefix, { cycle, count: number })
      out.push({ prefix, number })
    }
    return out
  }

  /** Re-sweeps planned and not yet queued. */
  get pending(): number {
    return this.due.size
  }

  /** Plans a re-sweep unless one is planned already or the region had its share this cycle; returns its time. */
  private plan(prefix: Prefix, cycle: number, now: number): number | undefined {
    if (this.due.has(prefix)) return undefined
    const prior = this.done.get(prefix)
    if ((prior?.cycle === cycle ? prior.count : 0) >= this.policy.maxPerCycle) return undefined
    const at = now + this.policy.delayMs
    this.due.set(prefix, at)
    return at
  }
}
