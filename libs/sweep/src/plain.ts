import { closestPeers } from '@sweep/keyspace'
import type { CoverageMap } from './coverage.ts'
import type { Delivery } from './deliver.ts'
import type { Clock, ClosestPeersRouter, Peer, ProvideKey } from './ports.ts'

export interface PlainDeps {
  readonly router: ClosestPeersRouter
  readonly clock: Clock
  /** When given, each lookup's proof is kept for later regions. */
  readonly coverage?: CoverageMap
  readonly signal?: AbortSignal
}

/**
 * The classic way: one lookup per key, then its record to the k peers found. Used
 * for regions with a handful of keys, and as the baseline the sweep is measured against.
 * Returns the peers contacted.
 */
export async function provideOneByOne(
  deps: PlainDeps,
  keys: readonly ProvideKey[],
  delivery: Delivery,
  k: number
): Promise<Peer[]> {
  const contacted = new Map<string, Peer>()
  for (const key of keys) {
    deps.signal?.throwIfAborted()
    const found = await deps.router.getClosestPeers(key.multihash, deps.signal === undefined ? undefined : { signal: deps.signal })
    deps.coverage?.absorb(key.key, found, deps.clock.now())
    for (const p of closestPeers(key.key, found, k)) contacted.set(p.id, p)
    await delivery.place(found, [key], k)
  }
  return [...contacted.values()]
}
