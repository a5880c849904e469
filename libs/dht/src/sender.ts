import { PeerChannel } from './peer-channel.ts'
import type { ChannelConfig, ChannelCounters } from './peer-channel.ts'
import type { FailedPeers } from './failed-peers.ts'
import type { RecordEncoder } from './records.ts'
import type { Libp2p } from '@libp2p/interface'
import type { Peer, ProvideKey, RecordSender, SendOutcome } from '@sweep/sweep'

export interface SenderStats extends Readonly<ChannelCounters> {
  /** send() calls, and those that returned an error. */
  readonly sends: number
  readonly sendsFailed: number
  /** Encoded protobuf bytes (ADD_PROVIDER and PING), without length prefixes. */
  readonly bytesWritten: number
  /** Peers with an open channel: sent to and not yet released. */
  readonly peersHeld: number
}

export interface SenderOptions {
  readonly libp2p: Libp2p
  readonly protocol: string
  readonly encoder: RecordEncoder
  /** Upper bound for one send() call, dial included. */
  readonly sendTimeoutMs?: number
  readonly retries?: number
  readonly checkpointChunk?: number
  readonly checkpointWindow?: number
  readonly idleReopenMs?: number
  /** Peer-store tag that keeps the connection manager from pruning a peer mid-region. */
  readonly tag?: string
  /** Aborts sends in flight when the host stops. */
  readonly signal?: AbortSignal
  readonly failedPeers?: FailedPeers
}

export const SWEEP_TAG = 'sweep-region'

/**
 * RecordSender over libp2p: one connection and one long-lived kad stream per
 * peer, reused across the batches of a region until release(). js servers cap
 * inbound kad streams per connection at 32, closed-but-unfinished ones included,
 * so a stream per message is never an option.
 */
export class Libp2pSender implements RecordSender {
  private readonly options: SenderOptions
  private readonly channels = new Map<string, PeerChannel>()
  private readonly counters: ChannelCounters = {
    messagesWritten: 0, recordsConfirmed: 0, pings: 0, dials: 0, dialFailures: 0,
    connectionsOpened: 0, streamsOpened: 0, reopens: 0, staleReplaced: 0
  }

  private readonly channelConfig: ChannelConfig
  private sends = 0
  private sendsFailed = 0

  constructor(options: SenderOptions) {
    this.options = options
    this.channelConfig = {
      libp2p: options.libp2p,
      protocol: options.protocol,
      encoder: options.encoder,
      counters: this.counters,
      checkpoints: { chunk: options.checkpointChunk ?? 500, window: options.checkpointWindow ?? 2 },
      retries: options.retries ?? 2,
      idleReopenMs: options.idleReopenMs ?? 8_000,
      failedPeers: options.failedPeers
    }
  }

  stats(): SenderStats {
    return {
      ...this.counters,
      sends: this.sends,
      sendsFailed: this.sendsFailed,
      bytesWritten: this.options.encoder.bytesEncoded,
      peersHeld: this.channels.size
    }
  }

  async send(peer: Peer, keys: readonly ProvideKey[], options: { signal?: AbortSignal } = {}): Promise<SendOutcome> {
    this.sends++
    if (keys.length === 0) return { sent: 0 }
    let outcome: SendOutcome
    try {
      const channel = await this.channelFor(peer)
      outcome = await channel.serialize(() => channel.send(keys, this.sendSignal(options.signal)))
    } catch (err) {
      // the port promises never to throw: anything unexpected becomes an outcome
      outcome = { sent: 0, error: `peer ${peer.id}: ${err instanceof Error ? err.message : String(err)}` }
    }
    if (outcome.error !== undefined) this.sendsFailed++
    return outcome
  }

  async release(peers: readonly Peer[]): Promise<void> {
    await Promise.all(peers.map(async (peer) => {
      const channel = this.channels.get(peer.id)
      if (channel === undefined) return
      this.channels.delete(peer.id)
      // after any send still running for this peer, not in the middle of it
      await channel.serialize(async () => channel.close())
      await this.untag(channel)
    }))
  }

  /** Drops every stream at once; for host shutdown. */
  abortAll(reason: string): void {
    for (const channel of this.channels.values()) channel.abort(reason)
    this.channels.clear()
  }

  private async channelFor(peer: Peer): Promise<PeerChannel> {
    let channel = this.channels.get(peer.id)
    if (channel === undefined) {
      channel = new PeerChannel(peer, this.channelConfig)
      this.channels.set(peer.id, channel)
      await this.options.libp2p.peerStore.merge(channel.peerId, { tags: { [this.tag]: { value: 100 } } })
    }
    return channel
  }

  private async untag(channel: PeerChannel): Promise<void> {
    try {
      await this.options.libp2p.peerStore.merge(channel.peerId, { tags: { [this.tag]: undefined } })
    } catch {
      // the peer store may already be stopped; an orphan tag dies with it
    }
  }

  private get tag(): string {
    return this.options.tag ?? SWEEP_TAG
  }

  private sendSignal(caller: AbortSignal | undefined): AbortSignal {
    const signals = [AbortSignal.timeout(this.options.sendTimeoutMs ?? 30_000)]
    if (this.options.signal !== undefined) signals.push(this.options.signal)
    if (caller !== undefined) signals.push(caller)
    return signals.length === 1 ? signals[0] : AbortSignal.any(signals)
  }
}
