/**
 * The testnet handle: global knowledge of every server (trueClosest) and a
 * read-only view of what each one actually stores (providersOf, holders),
 * so tests and benchmarks can score real provider-record placement.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { kadKeyOf } from '@sweep/keyspace'
import type { ChildHandle } from './child-handle.ts'
import { kClosest } from './closest.ts'
import { buildInfo, type TestnetInfo, type TestnetNode } from './info.ts'
import type { ProviderRecord } from './server.ts'
import { DEFAULT_PROTOCOL } from './server.ts'
import { boot, type WiringInit } from './startup.ts'
import { measureTables, type TableStats } from './tables.ts'

export interface TestnetOptions {
  nodes: number
  /** Child processes to spread the servers over; default about one per 55 servers, at least 2. */
  processes?: number
  /** Kad protocol id; default /ipfs/kad/1.0.0. */
  protocol?: string
  /** How routing tables are seeded at startup; the defaults suit placement tests. */
  wiring?: WiringInit
  /** Startup progress lines. */
  log?: (msg: string) => void
}

export interface Testnet {
  /** Every server, stopped ones included, in a fixed order. */
  readonly nodes: ReadonlyArray<TestnetNode>
  /** Full /p2p multiaddrs of a few servers spread over the processes, for clients. */
  readonly bootstrap: string[]
  /** JSON-able description: nodes, bootstrap, protocol, table stats, startup time. */
  info(): TestnetInfo
  writeInfo(file: string): Promise<void>
  /** Re-reads every live node's routing table (info() reports the last reading). */
  measureTables(): Promise<Map<string, TableStats>>
  /** Live servers holding provider records for the multihash, with those records. */
  providersOf(multihash: Uint8Array): Promise<Map<string, ProviderRecord[]>>
  /** Per multihash, the live servers holding any record for it; one IPC round per process. */
  holdersOfMany(multihashes: Uint8Array[]): Promise<string[][]>
  /**
   * Per multihash, the provider records that its k true-closest live servers hold,
   * merged by provider id (addresses united): what a GET_PROVIDERS at the right
   * servers would return. One IPC round per process.
   */
  findProvidersFromServers(multihashes: Uint8Array[], k?: number): Promise<ProviderRecord[][]>
  /** The k servers XOR-closest to sha256(multihash), closest first. */
  trueClosest(multihash: Uint8Array, k: number, opts?: { liveOnly?: boolean }): string[]
  /** Per key |holders ∩ trueClosest(live, k)| / min(k, live), and the mean. */
  recall(multihashes: Uint8Array[], k?: number): Promise<{ mean: number; perKey: number[] }>
  /** Stops these servers for good; liveOnly views and the inspector skip them. */
  stopNodes(peerIds: string[]): Promise<void>
  /** Stops every server and child process; idempotent. */
  stop(): Promise<void>
}

const BOOTSTRAP_COUNT = 5

export async function startTestnet(opts: TestnetOptions): Promise<Testnet> {
  if (!Number.isInteger(opts.nodes) || opts.nodes < 1) throw new Error(`nodes must be a positive integer, got ${opts.nodes}`)
  const protocol = opts.protocol ?? DEFAULT_PROTOCOL
  const booted = await boot({ nodes: opts.nodes, processes: opts.processes, protocol, wiring: opts.wiring, log: opts.log ?? (() => {}) })
  return new RunningTestnet(protocol, booted)
}

class RunningTestnet implements Testnet {
  readonly nodes: ReadonlyArray<TestnetNode>
  readonly bootstrap: string[]
  private readonly protocol: string
  private readonly handles: ChildHandle[]
  private readonly locals: number[][]
  /** Where each server runs: its process and its index there. */
  private readonly place = new Map<string, { process: number; local: number }>()
  private readonly stopped = new Set<string>()
  private readonly startupMs: number
  private tables: Map<string, TableStats>
  private measuredAt = new Date()
  private stopping: Promise<void> | undefined
  private readonly onExit = (): void => this.handles.forEach((h) => h.kill())

  constructor(protocol: string, booted: Awaited<ReturnType<typeof boot>>) {
    this.protocol = protocol
    this.nodes = booted.nodes
    this.handles = booted.handles
    this.locals = booted.locals
    this.tables = booted.tables
    this.startupMs = booted.startupMs
    booted.locals.forEach((list, p) => list.forEach((g, local) => this.place.set(booted.nodes[g].peerId, { process: p, local })))
    this.bootstrap = pickBootstrap(booted.nodes, BOOTSTRAP_COUNT)
    // Children also exit on IPC disconnect; this covers a parent that exits while
    // its event loop is still alive (process.exit) a few ms sooner.
    process.once('exit', this.onExit)
  }

  info(): TestnetInfo {
    return buildInfo({
      protocol: this.protocol,
      processes: this.handles.length,
      pids: this.handles.map((h) => h.pid ?? -1),
      startupMs: this.startupMs,
      bootstrap: this.bootstrap,
      nodes: this.nodes,
      stopped: this.stopped,
      tables: this.tables,
      measuredAt: this.measuredAt
    })
  }

  async writeInfo(file: string): Promise<void> {
    await mkdir(dirname(file), { recursive: true })
    await writeFile(file, JSON.stringify(this.info(), null, 2) + '\n')
  }

  async measureTables(): Promise<Map<string, TableStats>> {
    this.tables = await measureTables(this.handles, this.nodes, this.locals)
    this.measuredAt = new Date()
    return this.tables
  }

  async providersOf(multihash: Uint8Array): Promise<Map<string, ProviderRecord[]>> {
    const out = new Map<string, ProviderRecord[]>()
    const replies = await Promise.all(this.liveHandles().map(async (h) => ({ p: h.index, list: await h.request({ op: 'providers', multihash }) })))
    for (const { p, list } of replies) {
      for (const { local, records } of list) out.set(this.nodes[this.locals[p][local]].peerId, records)
    }
    return out
  }

  async holdersOfMany(multihashes: Uint8Array[]): Promise<string[][]> {
    const out: string[][] = multihashes.map(() => [])
    // One request per process carrying every key: the child scans each server's
    // store once, instead of once per key.
    const replies = await Promise.all(this.liveHandles().map(async (h) => ({ p: h.index, perKey: await h.request({ op: 'holders', multihashes }) })))
    for (const { p, perKey } of replies) {
      perKey.forEach((locals, k) => {
        for (const local of locals) out[k].push(this.nodes[this.locals[p][local]].peerId)
      })
    }
    return out
  }

  async findProvidersFromServers(multihashes: Uint8Array[], k = 20): Promise<ProviderRecord[][]> {
    const pairs: Array<Array<{ key: number; local: number }>> = this.handles.map(() => [])
    multihashes.forEach((mh, key) => {
      for (const id of this.trueClosest(mh, k, { liveOnly: true })) {
        const at = this.place.get(id)
        if (at != null) pairs[at.process].push({ key, local: at.local })
      }
    })
    const merged = multihashes.map(() => new Map<string, Set<string>>())
    await Promise.all(this.liveHandles().map(async (h) => {
      if (pairs[h.index].length === 0) return
      const records = await h.request({ op: 'records', multihashes, pairs: pairs[h.index] })
      records.forEach((list, i) => {
        const byId = merged[pairs[h.index][i].key]
        for (const r of list) {
          const addrs = byId.get(r.id) ?? new Set<string>()
          r.addrs.forEach((a) => addrs.add(a))
          byId.set(r.id, addrs)
        }
      })
    }))
    return merged.map((byId) => [...byId].map(([id, addrs]) => ({ id, addrs: [...addrs] })))
  }

  trueClosest(multihash: Uint8Array, k: number, opts: { liveOnly?: boolean } = {}): string[] {
    const pool = opts.liveOnly === true ? this.nodes.filter((n) => !this.stopped.has(n.peerId)) : this.nodes
    return kClosest(kadKeyOf(multihash), pool, k).map((n) => n.peerId)
  }

  async recall(multihashes: Uint8Array[], k = 20): Promise<{ mean: number; perKey: number[] }> {
    const holders = await this.holdersOfMany(multihashes)
    const live = this.nodes.filter((n) => !this.stopped.has(n.peerId))
    const want = Math.min(k, live.length)
    const perKey = multihashes.map((mh, i) => {
      if (want === 0) return 0
      const held = new Set(holders[i])
      const hits = kClosest(kadKeyOf(mh), live, k).filter((n) => held.has(n.peerId)).length
      return hits / want
    })
    const mean = perKey.length > 0 ? perKey.reduce((a, b) => a + b, 0) / perKey.length : 0
    return { mean, perKey }
  }

  async stopNodes(peerIds: string[]): Promise<void> {
    const perProcess = new Map<number, number[]>()
    for (const id of peerIds) {
      const at = this.place.get(id)
      if (at == null) throw new Error(`not a testnet node: ${id}`)
      if (this.stopped.has(id)) continue
      perProcess.set(at.process, [...(perProcess.get(at.process) ?? []), at.local])
    }
    await Promise.all([...perProcess].map(([p, locals]) => this.handles[p].request({ op: 'stopNodes', locals })))
    for (const id of peerIds) {
      this.stopped.add(id)
      this.tables.delete(id)
    }
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await Promise.all(this.handles.map((h) => h.close()))
      for (const n of this.nodes) this.stopped.add(n.peerId)
      process.removeListener('exit', this.onExit)
    })()
    return this.stopping
  }

  private liveHandles(): ChildHandle[] {
    if (this.stopping != null) throw new Error('testnet is stopped')
    return this.handles.filter((h) => h.alive)
  }
}

/** Full /p2p addresses of a few nodes spread evenly over the list (so over the processes). */
function pickBootstrap(nodes: readonly TestnetNode[], count: number): string[] {
  const n = Math.min(count, nodes.length)
  return Array.from({ length: n }, (_, i) => nodes[Math.floor((i * nodes.length) / n)])
    .map((node) => `${node.multiaddrs[0]}/p2p/${node.peerId}`)
}
