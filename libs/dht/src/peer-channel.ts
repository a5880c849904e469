import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { ProviderStream } from './provider-stream.ts'
import type { CheckpointOptions, WriteCounters } from './provider-stream.ts'
import type { FailedPeers } from './failed-peers.ts'
import type { RecordEncoder } from './records.ts'
import type { Connection, Libp2p, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Peer, ProvideKey, SendOutcome } from '@sweep/sweep'

/** Counters a channel bumps; the sender owns them and sums over all peers. */
export interface ChannelCounters extends WriteCounters {
  recordsConfirmed: number
  dials: number
  dialFailures: number
  /** Distinct connections the channels used; libp2p may have opened one earlier for a lookup. */
  connectionsOpened: number
  streamsOpened: number
  /** Retries after a failed attempt (stream reset or aborted by the remote, dial failed); each opens a new stream. */
  reopens: number
  /** Streams replaced before use because they had idled out or been closed between sends. */
  staleReplaced: number
}

export interface ChannelConfig {
  readonly libp2p: Libp2p
  readonly protocol: string
  readonly encoder: RecordEncoder
  readonly counters: ChannelCounters
  readonly checkpoints: CheckpointOptions
  /** Failed attempts in a row, with no record confirmed in between, before a send gives up. */
  readonly retries: number
  /** Replace a stream idle this long: js servers abort a stream after 10 s without a message. */
  readonly idleReopenMs: number
  /** The host's memory of undialable peers: a failed dial goes in, so no other send waits on it. */
  readonly failedPeers?: FailedPeers
}

/**
 * Everything the sender holds for one peer: its connection and its one stream,
 * kept across send() calls. Sends to one peer run one at a time, so the stream
 * never carries two batches interleaved.
 */
export class PeerChannel {
  readonly peer: Peer
  readonly peerId: PeerId
  private readonly config: ChannelConfig
  private stream: ProviderStream | undefined
  private readonly seenConnections = new Set<string>()
  private tail: Promise<unknown> = Promise.resolve()

  constructor(peer: Peer, config: ChannelConfig) {
    this.peer = peer
    this.peerId = peerIdFromString(peer.id)
    this.config = config
  }

  /** Runs fn after every earlier send/close of this channel has finished. */
  serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn)
    this.tail = run.catch(() => undefined)
    return run
  }

  async send(keys: readonly ProvideKey[], signal: AbortSignal): Promise<SendOutcome> {
    const multihashes = keys.map((k) => k.multihash)
    let confirmed = 0
    let failuresInARow = 0
    while (confirmed < multihashes.length) {
      const before = confirmed
      try {
        const stream = await this.openStream(signal)
        await stream.deliver(multihashes, confirmed, this.config.checkpoints, (end) => {
          this.config.counters.recordsConfirmed += end - confirmed
          confirmed = end
        }, signal)
      } catch (err) {
        this.discard(`send failed: ${describe(err)}`)
        failuresInARow = confirmed > before ? 1 : failuresInARow + 1
        if (signal.aborted || failuresInARow > this.config.retries) {
          const why = signal.aborted ? `timed out or stopped (${describe(signal.reason)})` : describe(err)
          return { sent: confirmed, error: `peer ${this.peer.id}: ${why} after ${confirmed}/${keys.length} records` }
        }
        this.config.counters.reopens++
      }
    }
    this.config.failedPeers?.alive(this.peer.id)
    return { sent: confirmed }
  }

  /** Closes the stream politely; the connection is left to the connection manager, free to prune it once untagged. */
  close(): void {
    this.stream?.close()
    this.stream = undefined
  }

  abort(reason: string): void {
    this.discard(reason)
  }

  private discard(reason: string): void {
    this.stream?.abort(reason)
    this.stream = undefined
  }

  private async openStream(signal: AbortSignal): Promise<ProviderStream> {
    const current = this.stream
    if (current !== undefined) {
      if (current.usable && current.idleMs < this.config.idleReopenMs) return current
      this.config.counters.staleReplaced++
      if (current.usable) current.close()
      else current.abort('stale stream')
      this.stream = undefined
    }
    const connection = await this.dial(signal)
    const raw = await connection.newStream(this.config.protocol, { signal })
    this.config.counters.streamsOpened++
    this.stream = new ProviderStream(raw, this.config.encoder, this.config.counters)
    return this.stream
  }

  private async dial(signal: AbortSignal): Promise<Connection> {
    const counters = this.config.counters
    counters.dials++
    let connection: Connection
    const started = Date.now()
    try {
      const target = dialAddrs(this.peer, this.peerId)
      connection = await this.config.libp2p.dial(target.length > 0 ? target : this.peerId, { signal })
    } catch (err) {
      counters.dialFailures++
      if (!signal.aborted) this.config.failedPeers?.markFailure(this.peer.id, err, Date.now() - started)
      throw err
    }
    // libp2p hands back an open connection to the peer when it has one; count real ones only
    if (!this.seenConnections.has(connection.id)) {
      this.seenConnections.add(connection.id)
      counters.connectionsOpened++
    }
    return connection
  }
}

/** The peer's addresses with its /p2p id, so libp2p reuses an open connection to it. */
function dialAddrs(peer: Peer, peerId: PeerId): Multiaddr[] {
  const out: Multiaddr[] = []
  for (const text of peer.addrs) {
    let ma: Multiaddr
    try {
      ma = multiaddr(text)
    } catch {
      continue
    }
    const p2p = ma.getComponents().findLast((c) => c.name === 'p2p')?.value
    if (p2p === undefined) out.push(ma.encapsulate(`/p2p/${peerId.toString()}`))
    else if (p2p === peer.id) out.push(ma)
  }
  return out
}

function describe(err: unknown): string {
  if (err instanceof Error) return err.name !== 'Error' ? `${err.name}: ${err.message}` : err.message
  return String(err)
}
