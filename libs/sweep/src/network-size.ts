import { xorDistance, type KadKey } from '@sweep/keyspace'
import type { Peer } from './ports.ts'

/** A lookup result used as a density sample: its target and the closest peers found. */
export interface LookupSample {
  readonly target: KadKey
  readonly peers: readonly Peer[]
}

/** XOR distance as a fraction of the keyspace, from its top 53 bits. */
function normalizedDistance(a: KadKey, b: KadKey): number {
  const d = xorDistance(a, b)
  let value = 0
  for (let i = 0; i < 7; i++) value = value * 256 + d[i]
  return value / 2 ** 56
}

/**
 * Estimates how many peers the network holds from a few lookups. For N uniform
 * peers the i-th closest sits at distance ≈ i / N, so a least-squares fit of
 * distance_i = i / N over all samples gives N = Σ i² / Σ i·distance_i.
 */
export function estimateNetworkSize(samples: readonly LookupSample[]): number {
  let sumSquares = 0
  let sumWeighted = 0
  for (const { target, peers } of samples) {
    const distances = peers.map((p) => normalizedDistance(target, p.key)).sort((a, b) => a - b)
    distances.forEach((d, i) => {
      sumSquares += (i + 1) ** 2
      sumWeighted += (i + 1) * d
    })
  }
  if (sumWeighted === 0) throw new Error('cannot estimate the network size: no lookup returned peers')
  return sumSquares / sumWeighted
}

/** The prefix length at which a subtree holds about k to 2k peers. */
export function regionPrefixLength(networkSize: number, k: number): number {
  return Math.max(0, Math.floor(Math.log2(networkSize / k)))
}

/** Past this depth a subtree is expected to hold fewer than 1/256 peers. */
export function dustDepth(networkSize: number): number {
  return Math.ceil(Math.log2(Math.max(networkSize, 1))) + 8
}
