import { PrefixTrie, type Prefix } from '@sweep/keyspace'
import { extractTrace, trace, type SpanContext } from '@sweep/telemetry'

/** How long a mark taken before its keys' dirty marks waits for the flush that takes them. */
const HOLD_MS = 60_000
/** Marks kept at most: a burst of traced requests must not grow the leader without bound. */
const MAX_HELD = 10_000
/** Links per provide span; OpenTelemetry drops links past its limit of 128. */
export const MAX_REQUEST_LINKS = 64

interface HeldMark {
  readonly context: SpanContext
  readonly since: number
}

/**
 * The traced provide requests behind the leader's burst jobs. The intake notes a sampled
 * request's traceparent under the prefixes its keys are about to mark dirty; the leader
 * takes these marks with the dirty marks and gives each region's provide span the requests
 * whose prefixes overlap the region: the oldest as its parent, so one request's trace runs
 * on through the queue, and every one as a link.
 *
 * The intake writes a mark before the keys, so a flush can take it first: a mark that
 * served no region is held for the next flushes, for a minute.
 */
export class RequestTraces {
  readonly #held = new Map<Prefix, HeldMark>()
  #trie = new PrefixTrie<HeldMark>()
  readonly #served = new Set<Prefix>()

  /** Adds newly taken marks (prefix → traceparent) to the held ones, and forgets stale ones. */
  refresh(taken: ReadonlyMap<Prefix, string>, now: number): void {
    for (const [prefix, at] of this.#held) if (now - at.since > HOLD_MS) this.#held.delete(prefix)
    for (const [prefix, traceparent] of taken) {
      const context = trace.getSpanContext(extractTrace({ traceparent }))
      if (context !== undefined && this.#held.size < MAX_HELD) this.#held.set(prefix, { context, since: now })
    }
    this.#trie = new PrefixTrie<HeldMark>()
    for (const [prefix, mark] of this.#held) this.#trie.set(prefix, mark)
    this.#served.clear()
  }

  /**
   * The requests behind a region's new keys, oldest first: marks on the region's own
   * prefix or above it (a request that spanned many regions), and marks inside it.
   */
  of(region: Prefix): SpanContext[] {
    const marks: Array<[Prefix, HeldMark]> = []
    for (let length = 0; length < region.length; length++) {
      const above = this.#held.get(region.slice(0, length))
      if (above !== undefined) marks.push([region.slice(0, length), above])
    }
    marks.push(...this.#trie.entriesUnder(region))
    marks.sort(([, a], [, b]) => a.since - b.since)
    const contexts = new Map<string, SpanContext>()
    for (const [, mark] of marks) contexts.set(mark.context.spanId, mark.context)
    return [...contexts.values()].slice(0, MAX_REQUEST_LINKS)
  }

  /** The region got its job (queued or merged): the marks it matched are done with after this flush. */
  served(region: Prefix): void {
    for (let length = 0; length <= region.length; length++) {
      if (this.#held.has(region.slice(0, length))) this.#served.add(region.slice(0, length))
    }
    for (const [prefix] of this.#trie.entriesUnder(region)) this.#served.add(prefix)
  }

  /** Ends a flush: drops the marks a region was served with. */
  settle(): void {
    for (const prefix of this.#served) this.#held.delete(prefix)
    this.#served.clear()
  }

  get size(): number {
    return this.#held.size
  }
}
