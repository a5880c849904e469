/**
 * The JSON-able description of a running testnet, for files that other
 * processes (the CLI, workers, benchmarks) read to find the network.
 */
import { keyToHex } from '@sweep/keyspace'
import type { Impl } from './protocol.ts'
import type { TestnetImpl } from './startup.ts'
import { summarize, type TableStats, type TableSummary } from './tables.ts'

export interface TestnetNode {
  peerId: string
  multiaddrs: string[]
  /** SHA-256 of the peer-id bytes: the node's point in the kad keyspace. */
  kadKey: Uint8Array
  /** Index of the child process that runs it. */
  process: number
  impl: Impl
}

export interface TestnetInfo {
  protocol: string
  impl: TestnetImpl
  /** Answer delay every server adds, mean ± jitter ms. */
  latency: { meanMs: number; jitterMs: number }
  processes: number
  /** Child process ids, by process index; for operators and for the orphan test. */
  pids: number[]
  startupMs: number
  bootstrap: string[]
  /**
   * Live nodes' routing tables at the last measurement: sizes, and the mean
   * fraction of each node's 20 XOR-closest live peers that its table holds.
   */
  routingTable: TableSummary & { measuredAt: string }
  nodes: Array<{
    peerId: string
    multiaddrs: string[]
    kadKey: string
    process: number
    impl: Impl
    /** live: serving; unreachable: a tarpit on its port; stopped: its port refuses. */
    state: NodeState
    /** Routing-table size; -1 when stopped. */
    routingTable: number
  }>
}

export type NodeState = 'live' | 'unreachable' | 'stopped'

export interface InfoInput {
  protocol: string
  impl: TestnetImpl
  latency: { meanMs: number; jitterMs: number }
  processes: number
  pids: number[]
  startupMs: number
  bootstrap: string[]
  nodes: readonly TestnetNode[]
  /** Not serving: stopped or unreachable (tarpitted). */
  stopped: ReadonlySet<string>
  unreachable: ReadonlySet<string>
  /** By peer id; absent for stopped nodes. */
  tables: ReadonlyMap<string, TableStats>
  measuredAt: Date
}

export function buildInfo(input: InfoInput): TestnetInfo {
  const live = input.nodes.filter((n) => !input.stopped.has(n.peerId))
  const stats = live.flatMap((n) => input.tables.get(n.peerId) ?? [])
  return {
    protocol: input.protocol,
    impl: input.impl,
    latency: input.latency,
    processes: input.processes,
    pids: input.pids,
    startupMs: input.startupMs,
    bootstrap: input.bootstrap,
    routingTable: { ...summarize(stats), measuredAt: input.measuredAt.toISOString() },
    nodes: input.nodes.map((n) => ({
      peerId: n.peerId,
      multiaddrs: n.multiaddrs,
      kadKey: keyToHex(n.kadKey),
      process: n.process,
      impl: n.impl,
      state: input.unreachable.has(n.peerId) ? 'unreachable' : input.stopped.has(n.peerId) ? 'stopped' : 'live',
      routingTable: input.stopped.has(n.peerId) ? -1 : input.tables.get(n.peerId)?.size ?? -1
    }))
  }
}
