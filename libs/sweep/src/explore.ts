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
  /**
   * Lookups aim no deeper than this: a subtree this deep holds far fewer than k
   * peers, so a lookup anywhere inside it proves all of it anyway.
   */
  readonly aimDepth: number
}

/** Lookups in a row that bring no peer not seen in this exploration before it gives up. */
const STALE_LOOKUPS = 2

/**
 * Finds every reachable peer under a prefix: aims lookups at uncovered subtrees
 * until no gap is left. Ends early after two lookups that bring no fresh peer
 * (lookups on a real network are not exact), or when maxLookups is spent.
 */
export async function explorePrefix(deps: ExploreDeps, prefix: Prefix, maxLookups: number, signal?: AbortSignal): Promise<Exploration> {
  const { router, clock, coverage, preimages, aimDepth } = deps
  const seen = new Set(coverage.peersUnder(prefix).map((p) => p.id))
  let lookups = 0
  let stale = 0
  let gaps = coverage.gaps(prefix, clock.now())
  while (gaps.length > 0 && lookups < maxLookups && stale < STALE_LOOKUPS) {
    signal?.throwIfAborted()
    const preimage = preimages.find(aimAt(gaps, aimDepth))
    const peers = await router.getClosestPeers(preimage, signal === undefined ? undefined : { signal })
    lookups++
    coverage.absorb(kadKeyOf(preimage), peers, clock.now())
    const fresh = peers.filter((p) => !seen.has(p.id))
    for (const p of fresh) seen.add(p.id)
    stale = fresh.length === 0 ? stale + 1 : 0
    gaps = coverage.gaps(prefix, clock.now())
  }
  return { peers: coverage.peersUnder(prefix), complete: gaps.length === 0, lookups }
}

/**
 * Where to aim the next lookup: the largest gap, at its edge away from its sibling.
 * A gap's sibling is partly proven already (else their parent would be the gap), and
 * a lookup's ball spills into the sibling at the target's mirror position; aiming
 * at the far edge makes that spill land beside the gap, where the previous ball's
 * ragged border left small holes. Measured on a 25k-server simnet this takes
 * 1.50 × servers/k lookups per cycle against 1.53 for the gap's near edge.
 */
function aimAt(gaps: readonly Prefix[], aimDepth: number): Prefix {
  const largest = gaps.reduce((best, gap) => (gap.length < best.length ? gap : best))
  const edgeBit = largest.endsWith('1') ? '1' : '0'
  return (largest + edgeBit.repeat(Math.max(0, aimDepth - largest.length))).slice(0, aimDepth)
}
