import { mapConcurrent } from './concurrency.ts'
import type { Peer, ProvideKey, RecordSender } from './ports.ts'

export interface DeliveryOptions {
  /** Peers sent to at once. */
  readonly concurrency: number
  /** Tries per peer and batch; a peer still failing after them is abandoned for the region. */
  readonly attempts: number
}

/**
 * Sends one region's records, batch after batch, and keeps the per-peer tally.
 * A peer that keeps failing is abandoned, so one dead server costs a region its
 * timeouts once, not once per batch.
 */
export class Delivery {
  recordsSent = 0
  recordsFailed = 0
  private readonly targeted = new Set<string>()
  private readonly abandoned = new Set<string>()
  private readonly sender: RecordSender
  private readonly options: DeliveryOptions

  constructor(sender: RecordSender, options: DeliveryOptions) {
    this.sender = sender
    this.options = options
  }

  get peersTargeted(): number {
    return this.targeted.size
  }

  get peersFailed(): number {
    return this.abandoned.size
  }

  get peersReached(): number {
    return this.targeted.size - this.abandoned.size
  }

  /** Sends peers[i] its keysByPeer[i]. */
  async deliver(peers: readonly Peer[], keysByPeer: ReadonlyArray<readonly ProvideKey[]>): Promise<void> {
    const work = peers.map((peer, i) => ({ peer, keys: keysByPeer[i] })).filter((w) => w.keys.length > 0)
    await mapConcurrent(work, this.options.concurrency, ({ peer, keys }) => this.toPeer(peer, keys))
  }

  private async toPeer(peer: Peer, keys: readonly ProvideKey[]): Promise<void> {
    this.targeted.add(peer.id)
    if (this.abandoned.has(peer.id)) {
      this.recordsFailed += keys.length
      return
    }
    let pending = keys
    for (let attempt = 0; attempt < this.options.attempts && pending.length > 0; attempt++) {
      const outcome = await this.sender.send(peer, pending)
      const sent = Math.min(Math.max(outcome.sent, 0), pending.length)
      this.recordsSent += sent
      pending = outcome.error === undefined && sent === pending.length ? [] : pending.slice(sent)
    }
    if (pending.length > 0) {
      this.abandoned.add(peer.id)
      this.recordsFailed += pending.length
    }
  }
}
