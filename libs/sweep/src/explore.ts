import { kadKeyOf, type PreimageFinder, type Prefix } from '@sweep/keyspace'
import type { CoverageMap } from './coverage.ts'
import type { Clock, ClosestPeersRouter, Peer } from './ports.ts'

export interface Exploration {
  readonly peers: Peer[]
  /** No uncovered subtree is left under the prefix. */
  readonly complete: boolean
  readonly lookups: number
}

export interface ExploreDeps {
  readonly router: ClosestPeersRouter
  readonly clock: Clock
  readonly coverage: CoverageMap
  readonly preimages: PreimageFinder
}

/** Lookups in a row that bring no peer not seen in this exploration before it gives up. */
const STALE_LOOKUPS = 2

/**
 * Finds every reachable peer under a prefix: aims lookups at the first uncovered
 * subtree, in keyspace order, until no gap is left. Ends early after two lookups
 * that bring no fresh peer (lookups on a real network are not exact), or when
 * maxLookups is spent.
 */
export async function explorePrefix(deps: ExploreDeps, prefix: Prefix, maxLookups: number): Promise<Exploration> {
  const { router, clock, coverage, preimages } = deps
  const seen = new Set(coverage.peersUnder(prefix).map((p) => p.id))
  let lookups = 0
  let stale = 0
  let gaps = coverage.gaps(prefix, clock.now())
  while (gaps.length > 0 && lookups < maxLookups && stale < STALE_LOOKUPS) {
    const preimage = preimages.find(gaps[0])
    const peers = await router.getClosestPeers(preimage)
    lookups++
    coverage.absorb(kadKeyOf(preimage), peers, clock.now())
    const fresh = peers.filter((p) => !seen.has(p.id))
    for (const p of fresh) seen.add(p.id)
    stale = fresh.length === 0 ? stale + 1 : 0
    gaps = coverage.gaps(prefix, clock.now())
  }
  return { peers: coverage.peersUnder(prefix), complete: gaps.length === 0, lookups }
}
