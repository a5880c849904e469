import type { ClosestPeersRouter, KeySource, Peer, ProvideKey, RecordSender, SendOutcome } from '@sweep/sweep'
import { inSpan, type Tracer } from '@sweep/telemetry'

/**
 * The children of a region's trace, made at the ports the algorithm calls, so the pure
 * algorithm stays free of tracing: one span per lookup (with the peers it found), per batch
 * of keys read from the keystore, and per peer batch of records sent (with its outcome).
 * Each is a child of whatever span is active where the algorithm calls the port: the
 * worker's region.sweep.
 */
export function tracedRouter(inner: ClosestPeersRouter, tracer: Tracer): ClosestPeersRouter {
  return {
    getClosestPeers: (preimage, options) => inSpan(tracer, 'dht.lookup', {}, async (span) => {
      const peers = await inner.getClosestPeers(preimage, options)
      span.setAttribute('sweep.peers_found', peers.length)
      return peers
    })
  }
}

export function tracedSender(inner: RecordSender, tracer: Tracer): RecordSender {
  return {
    send: (peer: Peer, keys: readonly ProvideKey[], options?: { signal?: AbortSignal }): Promise<SendOutcome> =>
      inSpan(tracer, 'dht.send', { attributes: { 'sweep.peer': peer.id, 'sweep.records': keys.length } }, async (span) => {
        const outcome = await inner.send(peer, keys, options)
        span.setAttribute('sweep.records_sent', outcome.sent)
        span.setAttribute('sweep.outcome', outcome.error === undefined ? 'ok' : 'failed')
        if (outcome.error !== undefined) span.setAttribute('sweep.error', outcome.error)
        return outcome
      }),
    ...(inner.release === undefined ? {} : { release: (peers: readonly Peer[]) => inner.release!(peers) })
  }
}

export function tracedKeys(inner: KeySource, tracer: Tracer): KeySource {
  return {
    keys: (prefix, batchSize) => ({
      [Symbol.asyncIterator]: () => {
        const batches = inner.keys(prefix, batchSize)[Symbol.asyncIterator]()
        return {
          next: () => inSpan(tracer, 'keys.read', { attributes: { 'sweep.prefix': prefix } }, async (span) => {
            const next = await batches.next()
            span.setAttribute('sweep.keys', next.done === true ? 0 : next.value.length)
            return next
          }),
          ...(batches.return === undefined ? {} : { return: (value?: unknown) => batches.return!(value) })
        }
      }
    })
  }
}
