import { compareDistance, type KadKey } from '@sweep/keyspace'

/**
 * When a lookup has stopped learning. kad-dht's lookup ends only once every
 * peer it queued has answered or failed, so one silent server holds it for a
 * whole dial timeout. A lookup with k answers is done when every peer it still
 * waits on is farther from the target than its k-th closest answer (that peer
 * could not enter the result), or when it has heard nothing for a few answer
 * times: the peers it waits on are silent, or slower than the answers in.
 */
export interface QuietRule {
  /** Answers the lookup needs before it may be cut: the DHT's k. */
  readonly k: number
  /** The quiet period is this many times the host's recent p90 answer time. */
  readonly answerTimes: number
  /** Bounds of the quiet period: loopback answers take ~1 ms, Amino's up to a second. */
  readonly minQuietMs: number
  readonly maxQuietMs: number
}

export const defaultQuietRule: Omit<QuietRule, 'k'> = { answerTimes: 4, minQuietMs: 250, maxQuietMs: 3000 }

/** Recent answer times of a host's lookups (dial included), for the quiet period. */
export class AnswerTimes {
  private readonly samples: number[] = []
  private next = 0
  private readonly size: number

  constructor(size = 256) {
    this.size = size
  }

  add(ms: number): void {
    if (this.samples.length < this.size) this.samples.push(ms)
    else this.samples[this.next] = ms
    this.next = (this.next + 1) % this.size
  }

  /** The 90th percentile, or undefined before any answer. */
  p90(): number | undefined {
    if (this.samples.length === 0) return undefined
    const sorted = [...this.samples].sort((a, b) => a - b)
    return sorted[Math.floor(0.9 * (sorted.length - 1))]
  }
}

/** One lookup's progress, fed from kad-dht's query events. */
export class LookupWatch {
  private readonly rule: QuietRule
  private readonly times: AnswerTimes
  private readonly now: () => number
  private readonly target: KadKey
  /** Peers dialled and not yet heard from: since when, whether the request went out (the dial worked), and their kad key. */
  readonly waiting = new Map<string, { since: number; sent: boolean; key: KadKey }>()
  /** The k closest answers' kad keys, closest first. */
  private readonly closest: KadKey[] = []
  private answers = 0
  private lastNews: number

  constructor(rule: QuietRule, times: AnswerTimes, target: KadKey, now: () => number = performance.now.bind(performance)) {
    this.rule = rule
    this.times = times
    this.target = target
    this.now = now
    this.lastNews = now()
  }

  dialling(peer: string, key: KadKey): void {
    if (!this.waiting.has(peer)) this.waiting.set(peer, { since: this.now(), sent: false, key })
  }

  sent(peer: string): void {
    const entry = this.waiting.get(peer)
    if (entry !== undefined) entry.sent = true
  }

  answered(peer: string): void {
    const entry = this.waiting.get(peer)
    if (entry !== undefined) {
      this.times.add(this.now() - entry.since)
      this.keep(entry.key)
    }
    this.waiting.delete(peer)
    this.answers++
    this.lastNews = this.now()
  }

  /** When the peer could not even be dialled (its request never went out): how long the dial waited; else undefined. */
  failed(peer: string): number | undefined {
    const entry = this.waiting.get(peer)
    this.waiting.delete(peer)
    this.lastNews = this.now()
    return entry === undefined || entry.sent ? undefined : this.now() - entry.since
  }

  /** Peers whose request went out and who have not answered yet: reachable, only slow. */
  slow(): string[] {
    return [...this.waiting].filter(([, entry]) => entry.sent).map(([peer]) => peer)
  }

  /** Peers dialled for longer than a whole quiet period without the dial completing (silent), and for how long. */
  stuck(): Array<{ peer: string; waitedMs: number }> {
    const now = this.now()
    const since = now - this.quietMs()
    return [...this.waiting].filter(([, entry]) => !entry.sent && entry.since <= since).map(([peer, entry]) => ({ peer, waitedMs: now - entry.since }))
  }

  quietMs(): number {
    const p90 = this.times.p90() ?? this.rule.maxQuietMs / this.rule.answerTimes
    return Math.min(this.rule.maxQuietMs, Math.max(this.rule.minQuietMs, this.rule.answerTimes * p90))
  }

  /** True when the lookup should be cut: k answers, peers still awaited, and none of them could matter or all are quiet. */
  settled(): boolean {
    if (this.answers < this.rule.k || this.waiting.size === 0 || this.closest.length < this.rule.k) return false
    const kth = this.closest[this.rule.k - 1]
    const useful = [...this.waiting.values()].some((w) => compareDistance(this.target, w.key, kth) < 0)
    const quiet = this.now() - this.lastNews
    // a closer peer named in the last answer is dialled within about one answer time, and a busy host is slow to start it
    return quiet >= (useful ? this.quietMs() : Math.max(this.rule.minQuietMs, this.quietMs() / this.rule.answerTimes))
  }

  private keep(key: KadKey): void {
    let at = this.closest.findIndex((c) => compareDistance(this.target, key, c) < 0)
    if (at === -1) at = this.closest.length
    if (at >= this.rule.k) return
    this.closest.splice(at, 0, key)
    if (this.closest.length > this.rule.k) this.closest.pop()
  }
}
