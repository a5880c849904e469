import { parentOf, PreimageFinder, regionsOf, type Prefix } from '@sweep/keyspace'
import { CoverageMap } from './coverage.ts'
import { Delivery } from './deliver.ts'
import { explorePrefix } from './explore.ts'
import { provideOneByOne } from './plain.ts'
import { dustDepth, regionPrefixLength } from './network-size.ts'
import type { Clock, ClosestPeersRouter, KeySource, Peer, ProvideKey, RecordSender } from './ports.ts'
import type { RegionMode, RegionReport } from './report.ts'

export interface SweepPorts {
  readonly router: ClosestPeersRouter
  readonly sender: RecordSender
  readonly keys: KeySource
  readonly clock: Clock
}

export interface SweepConfig {
  /** Replication factor: each key goes to its k closest peers. */
  readonly k: number
  /** Estimated number of DHT servers; sets how deep coverage must go. */
  readonly networkSize: number
  /** Keys read from the key source at a time. */
  readonly batchSize: number
  readonly sendConcurrency: number
  readonly sendAttempts: number
  /** Rounds of re-placing keys whose peers failed onto the next closest live peers (0: never). */
  readonly replaceRounds: number
  /** Regions with at most this many keys get one lookup per key instead of an exploration. */
  readonly plainMaxKeys: number
  readonly maxLookupsPerRegion: number
  /** Share of targeted peers that must take their records for the region to count as done. */
  readonly successRatio: number
  /** How long a lookup's proof of a subtree is trusted. */
  readonly coverageTtlMs: number
}

export interface SweepOptions {
  /** Distrust what earlier lookups proved about the prefix: its peers churned. */
  readonly fresh?: boolean
  /** Cancels the job: no lookup starts and no record leaves after it fires; the call rejects with its reason. */
  readonly signal?: AbortSignal
}

/** Six bits below region depth a subtree holds about k/64 peers: aiming deeper gains nothing. */
const AIM_DEPTH_BELOW_REGIONS = 6

export const defaultSweepConfig: Omit<SweepConfig, 'networkSize'> = {
  k: 20,
  batchSize: 10_000,
  sendConcurrency: 16,
  sendAttempts: 2,
  replaceRounds: 3,
  plainMaxKeys: 2,
  maxLookupsPerRegion: 32,
  successRatio: 0.2,
  coverageTtlMs: 30 * 60_000
}

/**
 * Provides regions of the keyspace. One Sweeper per host: it keeps what its lookups
 * proved, so regions swept in keyspace order reuse their neighbours' lookups.
 */
export class Sweeper {
  readonly config: SweepConfig
  readonly coverage: CoverageMap
  private readonly ports: SweepPorts
  private readonly preimages = new PreimageFinder()
  private readonly aimDepth: number

  constructor(ports: SweepPorts, config: Partial<SweepConfig> & Pick<SweepConfig, 'networkSize'>) {
    this.ports = ports
    this.config = { ...defaultSweepConfig, ...config }
    this.coverage = new CoverageMap(dustDepth(this.config.networkSize), this.config.coverageTtlMs, this.config.k)
    this.aimDepth = regionPrefixLength(this.config.networkSize, this.config.k) + AIM_DEPTH_BELOW_REGIONS
  }

  /** Provides every key under the prefix to its k closest peers. */
  async sweepRegion(prefix: Prefix, options: SweepOptions = {}): Promise<RegionReport> {
    const { clock, keys } = this.ports
    const started = clock.now()
    if (options.fresh === true) this.coverage.invalidate(prefix)
    const signal = options.signal
    const batches = keys.keys(prefix, this.config.batchSize)[Symbol.asyncIterator]()
    const first = await batches.next()
    if (first.done) return this.report(prefix, prefix, 'empty', started, { keys: 0 })
    const head = [first.value]
    if (first.value.length <= this.config.plainMaxKeys) {
      const second = await batches.next()
      if (second.done && this.coverage.gaps(prefix, clock.now()).length > 0) return this.providePlain(prefix, first.value, started, signal)
      if (!second.done) head.push(second.value)
    }
    return this.provideSwept(prefix, head, batches, started, signal)
  }

  private async provideSwept(
    prefix: Prefix,
    head: ReadonlyArray<readonly ProvideKey[]>,
    rest: AsyncIterator<readonly ProvideKey[]>,
    started: number,
    signal: AbortSignal | undefined
  ): Promise<RegionReport> {
    const { k, maxLookupsPerRegion } = this.config
    const deps = { ...this.ports, coverage: this.coverage, preimages: this.preimages, aimDepth: this.aimDepth }
    let peerPrefix = prefix
    let exploration = await explorePrefix(deps, peerPrefix, maxLookupsPerRegion, signal)
    let lookups = exploration.lookups
    let peers = exploration.peers
    /**
     * The keys' closest peers lie partly in the sibling subtree: too few peers under the
     * prefix, or failures left fewer than k of them live (silent ones a lagging host could
     * not rule out look alive to lookups). Explores the parent prefix; the pool only grows.
     */
    const widen = async (): Promise<readonly Peer[] | undefined> => {
      if (peerPrefix === '') return undefined
      peerPrefix = parentOf(peerPrefix)
      // the proofs there stand for peers since forgotten as failed: look again
      this.coverage.invalidate(peerPrefix)
      exploration = await explorePrefix(deps, peerPrefix, Math.max(maxLookupsPerRegion - lookups, 1), signal)
      lookups += exploration.lookups
      // the coverage no longer lists peers that failed in earlier regions: keep the pool's own
      const known = new Set(peers.map((p) => p.id))
      peers = [...peers, ...exploration.peers.filter((p) => !known.has(p.id))]
      return peers
    }
    while (peers.length < k) if (await widen() === undefined) break
    const exploreMs = this.ports.clock.now() - started
    const delivery = this.newDelivery(signal)
    let keyCount = 0
    const sendBatch = async (batch: readonly ProvideKey[]): Promise<void> => {
      keyCount += batch.length
      await delivery.place(peers, batch, k, widen)
    }
    try {
      for (const batch of head) await sendBatch(batch)
      for (let next = await rest.next(); !next.done; next = await rest.next()) await sendBatch(next.value)
    } finally {
      await this.ports.sender.release?.(peers)
      // a dead peer must not be a target again while its subtree's proof lasts
      this.coverage.forget(delivery.failedPeerIds)
    }
    const regions = regionsOf(peers, peerPrefix, k)
      .filter((r) => r.prefix.startsWith(prefix) || prefix.startsWith(r.prefix))
      .map((r) => ({ prefix: r.prefix, peers: r.peers.length }))
    return this.report(prefix, peerPrefix, 'sweep', started, {
      keys: keyCount, delivery, lookups, regions, peersFound: peers.length, complete: exploration.complete, exploreMs
    })
  }

  /** A region with a handful of keys: one lookup per key is cheaper than exploring it. */
  private async providePlain(prefix: Prefix, keys: readonly ProvideKey[], started: number, signal: AbortSignal | undefined): Promise<RegionReport> {
    const delivery = this.newDelivery(signal)
    const contacted = await provideOneByOne({ ...this.ports, coverage: this.coverage, signal }, keys, delivery, this.config.k)
      .finally(async () => {
        await this.ports.sender.release?.(delivery.targetedPeers)
        this.coverage.forget(delivery.failedPeerIds)
      })
    return this.report(prefix, prefix, 'plain', started, { keys: keys.length, delivery, lookups: keys.length, peersFound: contacted.length })
  }

  private newDelivery(signal: AbortSignal | undefined): Delivery {
    const { sendConcurrency, sendAttempts, replaceRounds } = this.config
    return new Delivery(this.ports.sender, { concurrency: sendConcurrency, attempts: sendAttempts, replaceRounds, ...(signal === undefined ? {} : { signal }) })
  }

  private report(
    prefix: Prefix,
    peerPrefix: Prefix,
    mode: RegionMode,
    started: number,
    parts: {
      keys: number
      delivery?: Delivery
      lookups?: number
      regions?: RegionReport['regions']
      peersFound?: number
      complete?: boolean
      exploreMs?: number
    }
  ): RegionReport {
    const d = parts.delivery
    const targeted = d?.peersTargeted ?? 0
    return {
      prefix,
      peerPrefix,
      regions: parts.regions ?? [],
      mode,
      complete: parts.complete ?? false,
      keys: parts.keys,
      recordsSent: d?.recordsSent ?? 0,
      recordsFailed: d?.recordsFailed ?? 0,
      recordsReplaced: d?.recordsReplaced ?? 0,
      peersFound: parts.peersFound ?? 0,
      peersReached: d?.peersReached ?? 0,
      peersFailed: d?.peersFailed ?? 0,
      lookups: parts.lookups ?? 0,
      durationMs: this.ports.clock.now() - started,
      ...(parts.exploreMs === undefined ? {} : { exploreMs: parts.exploreMs }),
      succeeded: targeted === 0 || (d?.peersReached ?? 0) >= this.config.successRatio * targeted
    }
  }
}
