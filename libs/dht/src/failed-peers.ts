import { peerIdFromString } from '@libp2p/peer-id'
import { kadKeyOf, prefixOf, type Prefix } from '@sweep/keyspace'
import type { ConnectionGater, PeerId } from '@libp2p/interface'

/** Bits of a dead peer's kad key worth reporting: far deeper than any region. */
const DEAD_PREFIX_BITS = 32

export interface FailedPeersOptions {
  /**
   * How long a failed peer is left alone: firstTtlMs after its first failure (a busy
   * server refuses now and then), ttlMs after a failure again (silent servers on Amino
   * stay silent for hours; ten minutes costs a live one little).
   */
  readonly ttlMs?: number
  readonly firstTtlMs?: number
  /** Entries kept at most; the oldest go first. */
  readonly maxEntries?: number
  readonly now?: () => number
  /** The longest this host's event loop was held up within the last `ms` (HostLag.within). */
  readonly hostLag?: (withinMs: number) => number
}

/**
 * A host whose event loop ran this late while it waited on a peer can't tell a silent
 * peer from its own stall: loopback servers measured 5.5 s "timeouts" on a starved host.
 */
const LAG_EXCUSES_TIMEOUT_MS = 200

/** A dial or query that ran out of time (libp2p's dial timeout, ours, or a handshake aborted by either). */
export function isTimeoutError(err: unknown): boolean {
  if (!(err instanceof Error)) return false
  return err.name === 'TimeoutError' || err.name === 'AbortError' || /timed? ?out/i.test(err.message)
}

/**
 * Peers that just failed a dial or a query, shared by the host's lookups and
 * sends. Dials to them are refused at once by the connection gater, so a silent
 * server costs one dial timeout per host and TTL instead of one per lookup and
 * per batch.
 */
export class FailedPeers {
  private readonly ttlMs: number
  private readonly firstTtlMs: number
  private readonly maxEntries: number
  private readonly now: () => number
  private readonly hostLag: (withinMs: number) => number
  /** Failed peers, kept past their time so a second failure is known as one, until they answer again. */
  private readonly entries = new Map<string, { at: number; until: number; wasAlive: boolean }>()
  /** Peers that answered or took records, oldest first: a failure of one of these is a death, not a peer that never worked. */
  private readonly worked = new Set<string>()
  /** Dials refused because the peer had failed. */
  denied = 0
  /** Timeouts not held against the peer because this host was stalled meanwhile. */
  excused = 0

  constructor(options: FailedPeersOptions = {}) {
    this.ttlMs = options.ttlMs ?? 10 * 60_000
    this.firstTtlMs = Math.min(this.ttlMs, options.firstTtlMs ?? 60_000)
    this.maxEntries = options.maxEntries ?? 100_000
    this.now = options.now ?? Date.now
    this.hostLag = options.hostLag ?? (() => 0)
  }

  /** Peers whose dials are refused now. */
  get size(): number {
    const now = this.now()
    let n = 0
    for (const entry of this.entries.values()) if (entry.until > now) n++
    return n
  }

  /** A failure while the peer is refused anyway (our own gater said no) is not news, and leaves its time as it is. */
  mark(peerId: string): void {
    if (this.has(peerId)) return
    const now = this.now()
    const again = this.entries.has(peerId)
    this.entries.delete(peerId)
    this.entries.set(peerId, { at: now, until: now + (again ? this.ttlMs : this.firstTtlMs), wasAlive: this.worked.has(peerId) })
    this.worked.delete(peerId)
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!)
  }

  /**
   * A dial or query to the peer timed out after `waitedMs`: the peer is marked only if this
   * host kept up meanwhile. Returns whether it was marked (or is refused anyway).
   */
  markTimedOut(peerId: string, waitedMs: number): boolean {
    if (this.hostLag(waitedMs) >= LAG_EXCUSES_TIMEOUT_MS) {
      this.excused++
      return this.has(peerId)
    }
    this.mark(peerId)
    return true
  }

  /**
   * A dial or query to the peer failed after `waitedMs`: a timeout is held against it as
   * markTimedOut decides, any other failure at once. Returns whether it counts against the peer.
   */
  markFailure(peerId: string, error: unknown, waitedMs: number): boolean {
    if (isTimeoutError(error)) return this.markTimedOut(peerId, waitedMs)
    this.mark(peerId)
    return true
  }

  /** The peer answered or took records: it may hold ours from now on. */
  alive(peerId: string): void {
    this.entries.delete(peerId)
    this.worked.delete(peerId)
    this.worked.add(peerId)
    if (this.worked.size > this.maxEntries) this.worked.delete(this.worked.values().next().value!)
  }

  has(peerId: string): boolean {
    const entry = this.entries.get(peerId)
    return entry !== undefined && entry.until > this.now()
  }

  /**
   * Deaths since `since`: peers that had answered or taken records on this host and
   * then failed, as kad-key prefixes, which say where in the keyspace they held
   * records. Peers that never worked (on Amino, many) are left out.
   */
  diedSince(since: number, max = Infinity): Array<{ prefix: Prefix; at: number }> {
    const out: Array<{ prefix: Prefix; at: number }> = []
    for (const [id, { at, wasAlive }] of this.entries) {
      if (at < since || !wasAlive) continue
      out.push({ prefix: prefixOf(kadKeyOf(peerIdFromString(id).toMultihash().bytes), DEAD_PREFIX_BITS), at })
      if (out.length >= max) break
    }
    return out
  }

  /** For createLibp2p: refuses dials to failed peers before any socket is opened. */
  gater(): ConnectionGater {
    return {
      denyDialPeer: (peerId: PeerId) => {
        const failed = this.has(peerId.toString())
        if (failed) this.denied++
        return failed
      }
    }
  }
}
