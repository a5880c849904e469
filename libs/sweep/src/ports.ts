import type { KadKey, Prefix } from '@sweep/keyspace'

/** A DHT server as the algorithm sees it. */
export interface Peer {
  /** Stable identifier: the peer ID string on the wire, an index-derived name in the simulator. */
  readonly id: string
  /** Kad key of the peer (SHA-256 of its peer-ID bytes). */
  readonly key: KadKey
  /** Multiaddrs to dial it by; may be empty when the transport can find it by id. */
  readonly addrs: readonly string[]
}

/** One CID to provide: the multihash that goes on the wire and its kad key. */
export interface ProvideKey {
  readonly multihash: Uint8Array
  readonly key: KadKey
}

/**
 * GetClosestPeers. Lookups hash their key, so the caller passes a preimage whose
 * SHA-256 is the target. Resolves with the closest reachable peers to that target
 * (at most k, sorted or not); rejects only when the lookup itself cannot run.
 */
export interface ClosestPeersRouter {
  /** The signal aborts a lookup in flight: the job was cancelled or ran out of time. */
  getClosestPeers(preimage: Uint8Array, options?: { signal?: AbortSignal }): Promise<readonly Peer[]>
}

export interface SendOutcome {
  /** Records the peer confirmed taking (written to its stream, for a transport with no replies). */
  readonly sent: number
  /** Why the rest were not sent; absent on full success. */
  readonly error?: string
}

/** Sends ADD_PROVIDER records to one peer. Must not throw: failures come back in the outcome. */
export interface RecordSender {
  send(peer: Peer, keys: readonly ProvideKey[], options?: { signal?: AbortSignal }): Promise<SendOutcome>
  /** Called once a region is done with these peers, so their connections can be released. */
  release?(peers: readonly Peer[]): Promise<void>
}

/** Where a region's keys come from, streamed so a 1M-key region never sits in memory. */
export interface KeySource {
  keys(prefix: Prefix, batchSize: number): AsyncIterable<readonly ProvideKey[]>
}

export interface Clock {
  now(): number
  sleep(ms: number): Promise<void>
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms))
}
