/**
 * Global-knowledge XOR selection: which servers a perfect DHT would pick.
 * This is the yardstick that recall() measures real placement against.
 */
import { compareDistance, type KadKey } from '@sweep/keyspace'

export interface Point { kadKey: KadKey }

/**
 * The k points XOR-closest to target, closest first.
 * A bounded insertion list instead of a full sort: recall() calls this for
 * every one of up to 20k keys, and most candidates lose to the k-th best
 * with a single comparison.
 */
export function kClosest<T extends Point>(target: KadKey, points: Iterable<T>, k: number): T[] {
  const best: T[] = []
  if (k <= 0) return best
  for (const p of points) {
    if (best.length === k && compareDistance(target, p.kadKey, best[k - 1].kadKey) >= 0) continue
    let i = best.length
    while (i > 0 && compareDistance(target, p.kadKey, best[i - 1].kadKey) < 0) i--
    best.splice(i, 0, p)
    if (best.length > k) best.pop()
  }
  return best
}
