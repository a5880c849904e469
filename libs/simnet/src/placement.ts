import type { KadKey } from '@sweep/keyspace'
import type { SimNetwork } from './sim-network.ts'

export interface Placement {
  /** The key's true k closest live servers that hold its record. */
  readonly hits: number
  /** Some server got the record more than once. */
  readonly duplicated: boolean
  /** Exactly the true k closest live servers got it, each once. */
  readonly exact: boolean
}

/**
 * Where one key's records landed against where a perfect DHT would put them.
 * Needs the key to be sampled by the network's delivery log.
 */
export function placementOf(network: SimNetwork, key: KadKey, k: number): Placement {
  const got = network.delivery.recipientsOf(key)
  const truth = new Set(network.trueClosest(key, k))
  const hits = new Set(got.filter((server) => truth.has(server))).size
  const duplicated = new Set(got).size !== got.length
  return { hits, duplicated, exact: !duplicated && hits === truth.size && got.length === truth.size }
}
