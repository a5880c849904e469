import { allocate } from '@sweep/keyspace'
import { mapConcurrent } from './concurrency.ts'
import type { Peer, ProvideKey, RecordSender } from './ports.ts'

export interface DeliveryOptions {
  /** Peers sent to at once. */
  readonly concurrency: number
  /** Tries per peer and batch; a peer still failing after them is abandoned for the region. */
  readonly attempts: number
  /** Rounds of re-placing a batch's keys after peers failed; each round can only lose more peers. */
  readonly replaceRounds?: number
  /** Stops the delivery between sends: no record leaves after it fires. */
  readonly signal?: AbortSignal
}

const DEFAULT_REPLACE_ROUNDS = 3

/** A larger pool of peers around the one a delivery started with, or undefined when there is none. */
export type Widen = () => Promise<readonly Peer[] | undefined>

/**
 * Sends one region's records, batch after batch, and keeps the per-peer tally.
 * A peer that keeps failing is abandoned, so one dead server costs a region its
 * timeouts once, not once per batch, and its keys go to the next closest live
 * peers instead: the same records a lookup run after its death would have chosen.
 */
export class Delivery {
  recordsSent = 0
  recordsFailed = 0
  /** Records sent to a peer only because a closer one had failed. */
  recordsReplaced = 0
  private readonly targeted = new Map<string, Peer>()
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

  /** Every peer a send was meant for, so the caller can release them all, whatever happened. */
  get targetedPeers(): Peer[] {
    return [...this.targeted.values()]
  }

  /** Ids of the peers that failed in this region. */
  get failedPeerIds(): readonly string[] {
    return [...this.abandoned]
  }

  /**
   * Gives every key to its k closest peers among `peers`. The keys a failed peer
   * missed then go to the next closest live peers, round after round; a peer that
   * failed in an earlier batch fails again at once, so its keys move on too.
   *
   * `peers` are every peer under some prefix, so while k of them live, a key's next
   * closest live peers are among them. With fewer left, the rest lie outside the
   * prefix: `widen` explores further out and returns a larger pool (undefined when
   * there is nowhere further).
   */
  async place(peers: readonly Peer[], keys: readonly ProvideKey[], k: number, widen?: Widen): Promise<void> {
    const rounds = this.options.replaceRounds ?? DEFAULT_REPLACE_ROUNDS
    let pool = peers
    let sends = allocate(keys, pool, k)
    for (let round = 0; ; round++) {
      const missing = await this.deliver(pool, sends)
      if (missing.length === 0 || round === rounds) return
      let live = pool.filter((p) => !this.abandoned.has(p.id))
      while (live.length < k && widen !== undefined) {
        const wider = await widen()
        if (wider === undefined) break
        live = wider.filter((p) => !this.abandoned.has(p.id))
      }
      // live peers of the last pool hold what it asked of them: only the newcomers to a key's k closest need it
      const asked = allocate(missing, pool, k)
      const wanted = allocate(missing, live, k)
      const index = new Map(pool.map((p, i) => [p.id, i]))
      sends = live.map((p, i) => {
        const had = new Set(asked[index.get(p.id) ?? -1] ?? [])
        return wanted[i].filter((key) => !had.has(key))
      })
      this.recordsReplaced += sends.reduce((n, list) => n + list.length, 0)
      pool = live
    }
  }

  /** Sends peers[i] its keysByPeer[i]; returns the keys some peer failed to take. */
  async deliver(peers: readonly Peer[], keysByPeer: ReadonlyArray<readonly ProvideKey[]>): Promise<ProvideKey[]> {
    const work = peers.map((peer, i) => ({ peer, keys: keysByPeer[i] })).filter((w) => w.keys.length > 0)
    this.options.signal?.throwIfAborted()
    const failed = await mapConcurrent(work, this.options.concurrency, ({ peer, keys }) => this.toPeer(peer, keys))
    return [...new Set(failed.flat())]
  }

  private async toPeer(peer: Peer, keys: readonly ProvideKey[]): Promise<readonly ProvideKey[]> {
    this.targeted.set(peer.id, peer)
    if (this.abandoned.has(peer.id)) {
      this.recordsFailed += keys.length
      return keys
    }
    let pending = keys
    const signal = this.options.signal
    for (let attempt = 0; attempt < this.options.attempts && pending.length > 0; attempt++) {
      signal?.throwIfAborted()
      const outcome = await this.sender.send(peer, pending, signal === undefined ? undefined : { signal })
      const sent = Math.min(Math.max(outcome.sent, 0), pending.length)
      this.recordsSent += sent
      pending = outcome.error === undefined && sent === pending.length ? [] : pending.slice(sent)
    }
    if (pending.length > 0) {
      this.abandoned.add(peer.id)
      this.recordsFailed += pending.length
    }
    return pending
  }
}
