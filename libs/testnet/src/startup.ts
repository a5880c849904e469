/**
 * Boots the network: start child processes (js and/or go), create servers,
 * then open the planned connections (each server to its true XOR neighbours plus a few random
 * peers, see wiring.ts), so routing tables start out converged.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { kadKeyOf } from '@sweep/keyspace'
import { ChildHandle } from './child-handle.ts'
import type { TestnetNode } from './info.ts'
import type { Impl, NodeAddrs } from './protocol.ts'
import { measureTables, type TableStats } from './tables.ts'
import { planWiring } from './wiring.ts'

/**
 * One process runs out of descriptors at ~140 servers once tables drift toward
 * a full mesh (ARCHITECTURE.md); 55 leaves room for that and spreads the
 * handshake CPU over both cores.
 */
export const NODES_PER_PROCESS = 55
/**
 * go servers cost far less CPU and memory than js ones (no ping-everything
 * table, cheap handshakes), but descriptors bound them: a go server keeps up
 * to 192 connections (go-libp2p's connection manager trims only above that),
 * js servers dial every peer they hear of, and this machine's hard limit is
 * 20,000 descriptors per process. Measured: 250 wired go servers in one
 * process reached the limit and lost half their seed dials; 100 go servers
 * beside 100 js ones came close to it.
 */
export const GO_NODES_PER_PROCESS = 60
/** Self-lookups in flight per process; more only queue on the same core. */
const LOOKUP_CONCURRENCY = 16
/**
 * Seed dials in flight per process (see child.ts connect). Measured at 300
 * servers: 8 gave the fullest tables at the same speed as 16 or 32; unbounded
 * (every dial at once) failed 60% of the dials.
 */
const DIAL_CONCURRENCY = 8

export interface WiringInit {
  /**
   * Each server dials its this-many true XOR-closest peers. Default 20 (= k): with
   * 10, tables held only ~53% of each node's 20 nearest (150 servers), too few for
   * lookups to reliably reach the true closest servers.
   */
  neighbours?: number
  /** Plus this many random peers, for the far buckets. Default 4. */
  random?: number
  /**
   * Then every server runs a self-lookup, as a fresh real node would. Default off:
   * seeded tables already hold the neighbourhood it would find, and js kad-dht
   * pings (so connects to) every new peer a lookup hears of; with it, 150 servers
   * took ~120 s to start instead of ~17 s.
   */
  selfLookup?: boolean
}

export interface Booted {
  handles: ChildHandle[]
  nodes: TestnetNode[]
  /** nodes[locals[p][i]] is local node i of process p. */
  locals: number[][]
  tables: Map<string, TableStats>
  startupMs: number
}

/** js: @libp2p/kad-dht only; go: go-libp2p-kad-dht only; mixed: half each, interleaved in the keyspace by their random ids. */
export type TestnetImpl = Impl | 'mixed'

export interface BootOptions {
  nodes: number
  impl: TestnetImpl
  /** The gonet binary; required when any server is go. */
  goBinary?: string
  /** js child processes (go servers get one process per GO_NODES_PER_PROCESS). */
  processes?: number
  protocol: string
  wiring?: WiringInit
  log: (msg: string) => void
}

export function defaultProcesses(nodes: number): number {
  // At least two so both cores work, even when one process could hold them all.
  return Math.max(1, Math.min(nodes, Math.max(2, Math.ceil(nodes / NODES_PER_PROCESS))))
}

/** How many servers of each kind run in each child process. */
export function planProcesses(opts: Pick<BootOptions, 'nodes' | 'impl' | 'processes'>): Array<{ impl: Impl; count: number }> {
  const go = opts.impl === 'go' ? opts.nodes : opts.impl === 'mixed' ? Math.ceil(opts.nodes / 2) : 0
  const js = opts.nodes - go
  const split = (impl: Impl, total: number, procs: number): Array<{ impl: Impl; count: number }> =>
    total === 0 ? [] : Array.from({ length: procs }, (_, p) => ({ impl, count: Math.floor(total / procs) + (p < total % procs ? 1 : 0) }))
  return [
    ...split('js', js, Math.max(1, Math.min(js, opts.processes ?? defaultProcesses(js)))),
    ...split('go', go, Math.ceil(go / GO_NODES_PER_PROCESS))
  ]
}

export async function boot(opts: BootOptions): Promise<Booted> {
  const t0 = performance.now()
  const plan = planProcesses(opts)
  if (plan.some((p) => p.impl === 'go') && opts.goBinary == null) throw new Error('go servers need the gonet binary (gonetBinary())')
  const handles = plan.map(({ impl }, p) => new ChildHandle(p, impl, opts.goBinary))
  const lap = (phase: string): void => opts.log(`testnet: ${phase} after ${Math.round(performance.now() - t0)} ms`)
  try {
    const started = await Promise.all(handles.map((h, p) => h.request({ op: 'start', count: plan[p].count, protocol: opts.protocol })))
    const kinds = (['js', 'go'] as const).map((impl) => [impl, plan.filter((p) => p.impl === impl)] as const).filter(([, ps]) => ps.length > 0)
    lap(`${opts.nodes} servers listening (${kinds.map(([impl, ps]) => `${ps.reduce((s, p) => s + p.count, 0)} ${impl} in ${ps.length} processes`).join(', ')})`)

    const nodes: TestnetNode[] = []
    const locals = started.map((list, p) => list.map((a) => {
      nodes.push(describe(a, p, plan[p].impl))
      return nodes.length - 1
    }))
    const all: NodeAddrs[] = started.flat()
    const targets = planWiring(nodes, { neighbours: opts.wiring?.neighbours ?? 20, random: opts.wiring?.random ?? 4 })
    const wired = await Promise.all(handles.map((h, p) => h.request({
      op: 'connect',
      concurrency: DIAL_CONCURRENCY,
      plan: locals[p].map((g, local) => ({ local, targets: targets[g].map((t) => all[t]) }))
    })))
    const failedDials = wired.reduce((s, w) => s + w.failed, 0)
    lap(`${wired.reduce((s, w) => s + w.ok, 0)} seed connections (${failedDials} failed)`)

    if (opts.wiring?.selfLookup === true) {
      const looked = await Promise.all(handles.map((h) => h.request({ op: 'selfLookup', concurrency: LOOKUP_CONCURRENCY })))
      lap(`self-lookups done (${looked.reduce((s, l) => s + l.failed, 0)} failed)`)
    }

    const startupMs = Math.round(performance.now() - t0)
    // Measured after the clock stops: reading tables is inspection, not startup.
    const tables = await measureTables(handles, nodes, locals)
    return { handles, nodes, locals, tables, startupMs }
  } catch (err) {
    await Promise.all(handles.map((h) => h.close(2_000)))
    throw err
  }
}

function describe(a: NodeAddrs, process: number, impl: Impl): TestnetNode {
  const kadKey = kadKeyOf(peerIdFromString(a.peerId).toMultihash().bytes)
  return { peerId: a.peerId, multiaddrs: a.multiaddrs, kadKey, process, impl }
}
