import { compareDistance, kadKeyOf, type KadKey } from '@sweep/keyspace'
import type { ClosestPeersRouter, Peer } from '@sweep/sweep'
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { FailedPeers } from './failed-peers.ts'
import { AnswerTimes, defaultQuietRule, LookupWatch, type QuietRule } from './lookup-watch.ts'

export interface RouterStats {
  readonly lookups: number
  /** Lookups that ended in an error or timeout (a partial answer may still have been returned). */
  readonly lookupsFailed: number
  /** FIND_NODE requests sent (SEND_QUERY events). */
  readonly rpcs: number
  /** FIND_NODE answers received (PEER_RESPONSE events). */
  readonly responses: number
  /** QUERY_ERROR events: peers that did not answer. */
  readonly queryErrors: number
  /** Lookups ended early because only silent peers were left to wait for. */
  readonly lookupsCut: number
  readonly peersReturned: number
  /** Returned peers for which no address was known anywhere; the sender must dial them by id. */
  readonly peersWithoutAddrs: number
}

export interface RouterOptions {
  /** How many peers a lookup returns: the DHT's k. */
  readonly k: number
  /** Upper bound for one lookup; kad-dht's own default is 180 s. */
  readonly lookupTimeoutMs?: number
  /** Aborts lookups in flight when the host stops. */
  readonly signal?: AbortSignal
  /** When a lookup stops waiting on silent peers; the default suits loopback and Amino alike. */
  readonly quiet?: Partial<Omit<QuietRule, 'k'>>
  /** Shared memory of peers whose dial failed, so later lookups and sends skip them. */
  readonly failedPeers?: FailedPeers
}

/** How often a running lookup checks whether it has settled. */
const SETTLE_CHECK_MS = 50

type Counters = { -readonly [K in keyof RouterStats]: RouterStats[K] }

/**
 * GetClosestPeers on kad-dht's own lookup. It uses services.dht directly, not
 * libp2p.peerRouting, because the latter runs a findPeer for every address-less
 * result, which multiplies the requests by k.
 */
export class Libp2pRouter implements ClosestPeersRouter {
  private readonly libp2p: Libp2p<{ dht: KadDHT }>
  private readonly options: RouterOptions
  private readonly counters: Counters = {
    lookups: 0, lookupsFailed: 0, rpcs: 0, responses: 0, queryErrors: 0, lookupsCut: 0, peersReturned: 0, peersWithoutAddrs: 0
  }

  private readonly answerTimes = new AnswerTimes()
  private readonly quiet: QuietRule

  constructor(libp2p: Libp2p<{ dht: KadDHT }>, options: RouterOptions) {
    this.libp2p = libp2p
    this.options = options
    this.quiet = { ...defaultQuietRule, ...options.quiet, k: options.k }
  }

  stats(): RouterStats {
    return { ...this.counters }
  }

  async getClosestPeers(preimage: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<readonly Peer[]> {
    this.counters.lookups++
    const target = kadKeyOf(preimage)
    // FINAL_PEER often carries no addresses; the PEER_RESPONSE that named the peer did
    const seenAddrs = new Map<string, Multiaddr[]>()
    const responders = new Map<string, PeerId>()
    const dialled = new Map<string, PeerId>()
    const heardOf = new Map<string, PeerId>()
    const undialable = new Set<string>()
    const finals: Array<{ id: PeerId, addrs: Multiaddr[] }> = []
    const watch = new LookupWatch(this.quiet, this.answerTimes, target)
    const settled = new AbortController()
    const signals = [AbortSignal.timeout(this.options.lookupTimeoutMs ?? 60_000), settled.signal]
    if (this.options.signal !== undefined) signals.push(this.options.signal)
    if (options.signal !== undefined) signals.push(options.signal)
    const check = setInterval(() => { if (watch.settled()) settled.abort(new Error('lookup settled')) }, SETTLE_CHECK_MS)
    try {
      for await (const event of this.libp2p.services.dht.getClosestPeers(preimage, { signal: AbortSignal.any(signals) })) {
        switch (event.name) {
          case 'DIAL_PEER':
            dialled.set(event.peer.toString(), event.peer)
            watch.dialling(event.peer.toString(), kadKeyOf(event.peer.toMultihash().bytes))
            break
          case 'SEND_QUERY':
            this.counters.rpcs++
            watch.sent(event.to.toString())
            break
          case 'PEER_RESPONSE':
            this.counters.responses++
            watch.answered(event.from.toString())
            this.options.failedPeers?.alive(event.from.toString())
            responders.set(event.from.toString(), event.from)
            for (const info of event.closer) {
              remember(seenAddrs, info.id, info.multiaddrs)
              heardOf.set(info.id.toString(), info.id)
            }
            break
          case 'QUERY_ERROR':
            this.counters.queryErrors++
            if (this.noteFailure(event.from.toString(), event.error, watch)) undialable.add(event.from.toString())
            break
          case 'FINAL_PEER':
            finals.push({ id: event.peer.id, addrs: event.peer.multiaddrs })
            break
        }
      }
    } catch (err) {
      // the caller gave up on the lookup: its partial answer is nobody's
      options.signal?.throwIfAborted()
      if (settled.signal.aborted) {
        this.counters.lookupsCut++
        // a peer that took the request is reachable and will take records: only its answer was late
        for (const id of watch.slow()) responders.set(id, dialled.get(id)!)
        // a dial still open after the quiet period will time out: no later lookup or send need wait on it
        for (const { peer, waitedMs } of watch.stuck()) this.blame((failed) => failed.markTimedOut(peer, waitedMs))
      } else {
        this.counters.lookupsFailed++
      }
      // FINAL_PEERs only come at the very end; the peers that answered are the same list, unsorted
      if (finals.length === 0 && responders.size === 0) throw err
      if (finals.length === 0) for (const id of responders.values()) finals.push({ id, addrs: [] })
    } finally {
      clearInterval(check)
    }
    // Peers named in answers that did not answer themselves still count, unless their dial
    // failed: kad-dht never asks a named peer farther than the one naming it (router.test:
    // 9 of 10 lookups exact on 30 servers, 10 of 10 with them), and a query that errors after
    // it went out (a stream reset, say by a server that sees our peer ID on two connections
    // from two workers) says the peer is there. A peer in close peers' tables takes records,
    // and if it has died the send finds out and re-places its keys.
    const asked = await Promise.all(finals.map(async (f) => this.toPeer(f.id, f.addrs, seenAddrs)))
    const unanswered = [...heardOf.keys()].filter((id) => !responders.has(id) && !undialable.has(id) && this.options.failedPeers?.has(id) !== true)
    const closest = await this.closestDialable(target, asked, unanswered.map((id) => ({ id: heardOf.get(id)!, addrs: seenAddrs.get(id) ?? [] })))
    this.counters.peersReturned += closest.length
    this.counters.peersWithoutAddrs += closest.filter((p) => p.addrs.length === 0).length
    return closest
  }

  /**
   * The k closest of the peers that answered and the named ones that did not; a named
   * one only with an address this host may dial (kad-dht skips the others, and so do we).
   */
  private async closestDialable(target: KadKey, asked: Peer[], unanswered: Array<{ id: PeerId, addrs: Multiaddr[] }>): Promise<Peer[]> {
    const byDistance = (a: Peer, b: Peer) => compareDistance(target, a.key, b.key)
    const closest = asked.sort(byDistance).slice(0, this.options.k)
    const kth = closest.length < this.options.k ? undefined : closest[closest.length - 1]
    for (const { id, addrs } of unanswered) {
      const key = kadKeyOf(id.toMultihash().bytes)
      if (kth !== undefined && compareDistance(target, key, kth.key) >= 0) continue
      if (addrs.length === 0 || !await this.libp2p.isDialable(addrs)) continue
      closest.push({ id: id.toString(), key, addrs: [...new Set(addrs.map((ma) => ma.toString()))] })
    }
    return closest.sort(byDistance).slice(0, this.options.k)
  }

  /**
   * A dial that failed marks the peer for the host and returns true: the peer is left out
   * of the answer. A peer that answered badly once stays, and so does one whose dial timed
   * out while this host was stalled: it may well be among the closest, and a send tries it.
   */
  private noteFailure(peer: string, error: unknown, watch: LookupWatch): boolean {
    const waitedMs = watch.failed(peer)
    if (waitedMs === undefined) return false
    return this.blame((failed) => failed.markFailure(peer, error, waitedMs))
  }

  /** Returns whether a failure counts against the peer; while the host stops it is only left out of the answer, unmarked. */
  private blame(mark: (failed: FailedPeers) => boolean): boolean {
    const failed = this.options.failedPeers
    return this.options.signal?.aborted === true || failed === undefined ? true : mark(failed)
  }

  private async toPeer(id: PeerId, addrs: Multiaddr[], seenAddrs: Map<string, Multiaddr[]>): Promise<Peer> {
    let found = addrs.length > 0 ? addrs : (seenAddrs.get(id.toString()) ?? [])
    if (found.length === 0) found = await this.fromPeerStore(id)
    return {
      id: id.toString(),
      key: kadKeyOf(id.toMultihash().bytes),
      addrs: [...new Set(found.map((ma) => ma.toString()))]
    }
  }

  private async fromPeerStore(id: PeerId): Promise<Multiaddr[]> {
    try {
      const stored = await this.libp2p.peerStore.get(id)
      return stored.addresses.map((a) => a.multiaddr)
    } catch {
      return []
    }
  }
}

function remember(seen: Map<string, Multiaddr[]>, id: PeerId, addrs: Multiaddr[]): void {
  if (addrs.length === 0) return
  const key = id.toString()
  const known = seen.get(key)
  seen.set(key, known === undefined ? [...addrs] : [...known, ...addrs])
}
