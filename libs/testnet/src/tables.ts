/**
 * Routing-table health, read from every live server: how many peers each
 * holds, and how much of its true XOR neighbourhood it knows. The second
 * number is what decides whether lookups find the true closest servers.
 */
import type { ChildHandle } from './child-handle.ts'
import { kClosest } from './closest.ts'
import type { TestnetNode } from './info.ts'

/** Neighbourhood size checked: Amino's replication factor. */
export const NEIGHBOURHOOD = 20

export interface TableStats {
  size: number
  /** Open connections; js kad-dht keeps one to every table peer, so this tracks fd use. */
  connections: number
  /** Fraction of the node's NEIGHBOURHOOD XOR-closest live peers that its table holds. */
  neighbourhood: number
}

export interface RoutingTables {
  /** Per live server, the peer ids in its routing table. */
  peers: Map<string, Set<string>>
  connections: Map<string, number>
}

/** Every live server's routing table; stopped nodes and dead processes are absent. */
export async function readTables(handles: ChildHandle[], nodes: readonly TestnetNode[], locals: number[][]): Promise<RoutingTables> {
  const peers = new Map<string, Set<string>>()
  const connections = new Map<string, number>()
  await Promise.all(handles.filter((h) => h.alive).map(async (h) => {
    const perLocal = await h.request({ op: 'tables' })
    perLocal.forEach((table, i) => {
      if (table == null) return
      const id = nodes[locals[h.index][i]].peerId
      peers.set(id, new Set(table.peers))
      connections.set(id, table.connections)
    })
  }))
  return { peers, connections }
}

/** Per peer id; stopped nodes and dead processes are absent. */
export async function measureTables(handles: ChildHandle[], nodes: readonly TestnetNode[], locals: number[][]): Promise<Map<string, TableStats>> {
  const { peers: tables, connections } = await readTables(handles, nodes, locals)
  const live = nodes.filter((n) => tables.has(n.peerId))
  const stats = new Map<string, TableStats>()
  for (const node of live) {
    const table = tables.get(node.peerId) ?? new Set<string>()
    const near = kClosest(node.kadKey, live.filter((n) => n !== node), NEIGHBOURHOOD)
    const known = near.filter((n) => table.has(n.peerId)).length
    stats.set(node.peerId, { size: table.size, connections: connections.get(node.peerId) ?? 0, neighbourhood: near.length > 0 ? known / near.length : 1 })
  }
  return stats
}

export interface TableSummary { min: number; mean: number; max: number; neighbourhood: number; meanConnections: number }

export function summarize(stats: Iterable<TableStats>): TableSummary {
  const list = [...stats]
  if (list.length === 0) return { min: 0, mean: 0, max: 0, neighbourhood: 0, meanConnections: 0 }
  const sizes = list.map((s) => s.size)
  return {
    min: Math.min(...sizes),
    mean: sizes.reduce((a, b) => a + b, 0) / list.length,
    max: Math.max(...sizes),
    neighbourhood: list.reduce((a, s) => a + s.neighbourhood, 0) / list.length,
    meanConnections: list.reduce((a, s) => a + s.connections, 0) / list.length
  }
}
