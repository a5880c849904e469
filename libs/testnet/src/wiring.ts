/**
 * Which connections to open at startup. Pure: no I/O.
 *
 * A real DHT node finds its neighbourhood with self-lookups, and in js
 * kad-dht every peer a lookup learns is pinged, so each lookup costs dozens
 * of new connections (~20–30 ms of CPU each on this machine, handshake plus
 * identify). The testnet knows every node, so it hands each node its true
 * XOR neighbours directly, plus a few random far peers for the other
 * buckets; the self-lookups that follow then mostly confirm instead of
 * discover, and startup stays linear in the node count.
 */
import { kClosest, type Point } from './closest.ts'

export interface WiringOptions {
  /** Each node dials its this-many XOR-closest peers. */
  neighbours: number
  /** Plus this many uniformly random others. */
  random: number
  /** Source of randomness in [0, 1); injectable for tests. */
  rand?: () => number
}

/**
 * targets[i] lists the node indices that node i dials. Every undirected
 * edge appears once, on the side that planned it first, since a second
 * dial in the other direction would only open a duplicate connection.
 */
export function planWiring(points: readonly Point[], opts: WiringOptions): number[][] {
  const rand = opts.rand ?? Math.random
  const n = points.length
  const targets: number[][] = points.map(() => [])
  const edges = new Set<string>()
  const add = (a: number, b: number): void => {
    if (a === b) return
    const edge = a < b ? `${a}:${b}` : `${b}:${a}`
    if (edges.has(edge)) return
    edges.add(edge)
    targets[a].push(b)
  }
  const indexed = points.map((p, i) => ({ kadKey: p.kadKey, i }))
  for (let i = 0; i < n; i++) {
    // k+1 because the node itself is its own closest point
    for (const near of kClosest(points[i].kadKey, indexed, opts.neighbours + 1)) add(i, near.i)
    for (let r = 0; r < Math.min(opts.random, n - 1); r++) add(i, Math.floor(rand() * n))
  }
  return targets
}
