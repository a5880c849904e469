import { compareDistance, kadKeyOf } from '@sweep/keyspace'
import type { ClosestPeersRouter, Peer } from '@sweep/sweep'
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Multiaddr } from '@multiformats/multiaddr'

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
}

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
    lookups: 0, lookupsFailed: 0, rpcs: 0, responses: 0, queryErrors: 0, peersReturned: 0, peersWithoutAddrs: 0
  }

  constructor(libp2p: Libp2p<{ dht: KadDHT }>, options: RouterOptions) {
    this.libp2p = libp2p
    this.options = options
  }

  stats(): RouterStats {
    return { ...this.counters }
  }

  async getClosestPeers(preimage: Uint8Array): Promise<readonly Peer[]> {
    this.counters.lookups++
    const target = kadKeyOf(preimage)
    // FINAL_PEER often carries no addresses; the PEER_RESPONSE that named the peer did
    const seenAddrs = new Map<string, Multiaddr[]>()
    const responders = new Map<string, PeerId>()
    const finals: Array<{ id: PeerId, addrs: Multiaddr[] }> = []
    const signals = [AbortSignal.timeout(this.options.lookupTimeoutMs ?? 60_000)]
    if (this.options.signal !== undefined) signals.push(this.options.signal)
    try {
      for await (const event of this.libp2p.services.dht.getClosestPeers(preimage, { signal: AbortSignal.any(signals) })) {
        switch (event.name) {
          case 'SEND_QUERY':
            this.counters.rpcs++
            break
          case 'PEER_RESPONSE':
            this.counters.responses++
            responders.set(event.from.toString(), event.from)
            for (const info of event.closer) remember(seenAddrs, info.id, info.multiaddrs)
            break
          case 'QUERY_ERROR':
            this.counters.queryErrors++
            break
          case 'FINAL_PEER':
            finals.push({ id: event.peer.id, addrs: event.peer.multiaddrs })
            break
        }
      }
    } catch (err) {
      this.counters.lookupsFailed++
      // FINAL_PEERs only come at the very end; the peers that answered are the same list, unsorted
      if (finals.length === 0 && responders.size === 0) throw err
      if (finals.length === 0) for (const id of responders.values()) finals.push({ id, addrs: [] })
    }
    const peers = await Promise.all(finals.map(async (f) => this.toPeer(f.id, f.addrs, seenAddrs)))
    const closest = peers.sort((a, b) => compareDistance(target, a.key, b.key)).slice(0, this.options.k)
    this.counters.peersReturned += closest.length
    this.counters.peersWithoutAddrs += closest.filter((p) => p.addrs.length === 0).length
    return closest
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
