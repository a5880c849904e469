import type { ClosestPeersRouter, Peer, ProvideKey, RecordSender, SendOutcome } from '@sweep/sweep'

/**
 * Where a job's time goes, measured at the ports the algorithm already calls, so the
 * pure algorithm stays free of timers: how long its lookups took, and when its first
 * record left. Totals grow over the worker's life; a job logs the difference between
 * its end and its start, like the host totals. With several jobs at once their lookups
 * overlap, so per-job figures are exact only at concurrency 1 (the benchmarks' setting).
 */
export class PortTimings {
  lookups = 0
  lookupMs = 0
  sends = 0
  sendMs = 0
  recordsSent = 0
  recordsFailed = 0
  recordsCut = 0
  /** Set when the host is about to stop: any send after it is one the shutdown failed to prevent. */
  hostStopping = false
  sendsAfterHostStop = 0
  /** Date.now() when the most recent send finished with at least one record written. */
  lastRecordAt = 0
  /** Date.now() when the first send finished with records after mark() was called. */
  firstRecordAt = 0
  /** Date.now() when the first lookup began after mark() was called. */
  firstLookupAt = 0

  /** Starts a job's window: the next lookup and record become its first. */
  mark(): void {
    this.firstRecordAt = 0
    this.firstLookupAt = 0
  }

  router(inner: ClosestPeersRouter): ClosestPeersRouter {
    return {
      getClosestPeers: async (preimage: Uint8Array, options?: { signal?: AbortSignal }): Promise<readonly Peer[]> => {
        const started = performance.now()
        if (this.firstLookupAt === 0) this.firstLookupAt = Date.now()
        try {
          return await inner.getClosestPeers(preimage, options)
        } finally {
          this.lookups++
          this.lookupMs += performance.now() - started
        }
      }
    }
  }

  sender(inner: RecordSender): RecordSender {
    return {
      send: async (peer: Peer, keys: readonly ProvideKey[], options?: { signal?: AbortSignal }): Promise<SendOutcome> => {
        const started = performance.now()
        if (this.hostStopping) this.sendsAfterHostStop++
        const outcome = await inner.send(peer, keys, options)
        this.sends++
        this.sendMs += performance.now() - started
        const sent = Math.min(Math.max(outcome.sent, 0), keys.length)
        this.recordsSent += sent
        // a send cut short by its job's abort did not fail: the records go out on the job's re-run
        if (options?.signal?.aborted === true) this.recordsCut += keys.length - sent
        else this.recordsFailed += keys.length - sent
        if (outcome.sent > 0) {
          this.lastRecordAt = Date.now()
          if (this.firstRecordAt === 0) this.firstRecordAt = this.lastRecordAt
        }
        return outcome
      },
      ...(inner.release === undefined ? {} : { release: (peers: readonly Peer[]) => inner.release!(peers) })
    }
  }

  totals(): { lookups: number; lookupMs: number; sends: number; sendMs: number; recordsSent: number; recordsFailed: number; recordsCut: number } {
    return { lookups: this.lookups, lookupMs: Math.round(this.lookupMs), sends: this.sends, sendMs: Math.round(this.sendMs), recordsSent: this.recordsSent, recordsFailed: this.recordsFailed, recordsCut: this.recordsCut }
  }
}
