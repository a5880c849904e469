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
import { gonetBinary } from './go-binary.ts'
import type { Impl } from './protocol.ts'
import { boot, type TestnetImpl, type WiringInit } from './startup.ts'
import { measureTables, readTables, type TableStats } from './tables.ts'

export interface TestnetOptions {
  nodes: number
  /** Which kad-dht servers run: js, go or mixed (half each). Default js. */
  impl?: TestnetImpl
  /** js child processes to spread the js servers over; default about one per 55 servers, at least 2. */
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
  /** Writes info() as JSON, with `extra` fields beside it (the CLI adds its control URL). */
  writeInfo(file: string, extra?: Record<string, unknown>): Promise<void>
  /** Re-reads every live node's routing table (info() reports the last reading). */
  measureTables(): Promise<Map<string, TableStats>>
  /** Per live server, the peer ids its routing table holds now. */
  routingTables(): Promise<Map<string, Set<string>>>
  /** Live servers holding provider records for the multihash, with those records. */
  providersOf(multihash: Uint8Array): Promise<Map<string, ProviderRecord[]>>
  /** Per multihash, the live servers holding any record for it (from `provider` only, when given); one IPC round per process. */
  holdersOfMany(multihashes: Uint8Array[], provider?: string): Promise<string[][]>
  /**
   * Per multihash, the provider records that its k true-closest live servers hold,
   * merged by provider id (addresses united): what a GET_PROVIDERS at the right
   * servers would return. One IPC round per process.
   */
  findProvidersFromServers(multihashes: Uint8Array[], k?: number): Promise<ProviderRecord[][]>
  /** The k servers XOR-closest to sha256(multihash), closest first. */
  trueClosest(multihash: Uint8Array, k: number, opts?: { liveOnly?: boolean }): string[]
  /**
   * Per key |holders ∩ trueClosest(live, k)| / min(k, live), and the mean; byImpl
   * is the same ratio over the true-closest slots held by each implementation
   * (null where it has none). With `provider`, only that peer's records count.
   */
  recall(multihashes: Uint8Array[], k?: number, opts?: { provider?: string }): Promise<Recall>
  /** Kills these servers for good: their ports refuse. liveOnly views and the inspector skip them. */
  stopNodes(peerIds: string[]): Promise<void>
  /**
   * Turns these servers into tarpits: their ports accept TCP and never answer,
   * while other servers' routing tables still list them, as on Amino. They
   * leave the live set like stopped ones.
   */
  makeUnreachable(peerIds: string[]): Promise<void>
  /** Every server delays each kad answer by mean ± jitter ms (uniform); 0 turns it off. */
  setLatency(meanMs: number, jitterMs?: number): Promise<void>
  /**
   * round(fraction × live servers) random live servers, for faults; never one in
   * `exclude` (say, the bootstrap peers), so fewer when too few others are left.
   */
  pickLive(fraction: number, opts?: { exclude?: ReadonlySet<string>; rand?: () => number }): string[]
  /** Peer ids of the bootstrap servers. */
  readonly bootstrapIds: ReadonlySet<string>
  /** Stops every server and child process; idempotent. */
  stop(): Promise<void>
}

export interface Recall { mean: number; perKey: number[]; byImpl: Record<Impl, number | null> }

const BOOTSTRAP_COUNT = 5

export async function startTestnet(opts: TestnetOptions): Promise<Testnet> {
  if (!Number.isInteger(opts.nodes) || opts.nodes < 1) throw new Error(`nodes must be a positive integer, got ${opts.nodes}`)
  const protocol = opts.protocol ?? DEFAULT_PROTOCOL
  const impl = opts.impl ?? 'js'
  const log = opts.log ?? (() => {})
  let goBinary: string | undefined
  if (impl !== 'js') {
    const built = await gonetBinary(log)
    if (built.path == null) throw new Error(`a ${impl} testnet needs go servers: ${built.reason}`)
    goBinary = built.path
  }
  const booted = await boot({ nodes: opts.nodes, impl, goBinary, processes: opts.processes, protocol, wiring: opts.wiring, log })
  return new RunningTestnet(protocol, impl, booted)
}

class RunningTestnet implements Testnet {
  readonly nodes: ReadonlyArray<TestnetNode>
  readonly bootstrap: string[]
  readonly bootstrapIds: ReadonlySet<string>
  private readonly protocol: string
  private readonly impl: TestnetImpl
  private readonly handles: ChildHandle[]
  private readonly locals: number[][]
  /** Where each server runs: its process and its index there. */
  private readonly place = new Map<string, { process: number; local: number }>()
  /** Not serving: killed or tarpitted. */
  private readonly stopped = new Set<string>()
  private readonly unreachable = new Set<string>()
  private latency = { meanMs: 0, jitterMs: 0 }
  private readonly startupMs: number
  private tables: Map<string, TableStats>
  private measuredAt = new Date()
  private stopping: Promise<void> | undefined
  private readonly onExit = (): void => this.handles.forEach((h) => h.kill())

  constructor(protocol: string, impl: TestnetImpl, booted: Awaited<ReturnType<typeof boot>>) {
    this.protocol = protocol
    this.impl = impl
    this.nodes = booted.nodes
    this.handles = booted.handles
    this.locals = booted.locals
    this.tables = booted.tables
    this.startupMs = booted.startupMs
    booted.locals.forEach((list, p) => list.forEach((g, local) => this.place.set(booted.nodes[g].peerId, { process: p, local })))
    this.bootstrap = pickBootstrap(booted.nodes, BOOTSTRAP_COUNT)
    this.bootstrapIds = new Set(this.bootstrap.map((b) => b.slice(b.lastIndexOf('/') + 1)))
    // Children also exit on IPC disconnect; this covers a parent that exits while
    // its event loop is still alive (process.exit) a few ms sooner.
    process.once('exit', this.onExit)
  }

  info(): TestnetInfo {
    return buildInfo({
      protocol: this.protocol,
      impl: this.impl,
      latency: this.latency,
      processes: this.handles.length,
      pids: this.handles.map((h) => h.pid ?? -1),
      startupMs: this.startupMs,
      bootstrap: this.bootstrap,
      nodes: this.nodes,
      stopped: this.stopped,
      unreachable: this.unreachable,
      tables: this.tables,
      measuredAt: this.measuredAt
    })
  }

  async writeInfo(file: string, extra: Record<string, unknown> = {}): Promise<void> {
    await mkdir(dirname(file), { recursive: true })
    await writeFile(file, JSON.stringify({ ...this.info(), ...extra }, null, 2) + '\n')
  }

  async measureTables(): Promise<Map<string, TableStats>> {
    this.tables = await measureTables(this.handles, this.nodes, this.locals)
    this.measuredAt = new Date()
    return this.tables
  }

  async routingTables(): Promise<Map<string, Set<string>>> {
    return (await readTables(this.handles, this.nodes, this.locals)).peers
  }

  async providersOf(multihash: Uint8Array): Promise<Map<string, ProviderRecord[]>> {
    const out = new Map<string, ProviderRecord[]>()
    const replies = await Promise.all(this.liveHandles().map(async (h) => ({ p: h.index, list: await h.request({ op: 'providers', multihash }) })))
    for (const { p, list } of replies) {
      for (const { local, records } of list) out.set(this.nodes[this.locals[p][local]].peerId, records)
    }
    return out
  }

  async holdersOfMany(multihashes: Uint8Array[], provider?: string): Promise<string[][]> {
    const out: string[][] = multihashes.map(() => [])
    // One request per process carrying every key: the child scans each server's
    // store once, instead of once per key.
    const replies = await Promise.all(this.liveHandles().map(async (h) => ({ p: h.index, perKey: await h.request({ op: 'holders', multihashes, provider }) })))
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

  async recall(multihashes: Uint8Array[], k = 20, opts: { provider?: string } = {}): Promise<Recall> {
    const holders = await this.holdersOfMany(multihashes, opts.provider)
    const live = this.nodes.filter((n) => !this.stopped.has(n.peerId))
    const want = Math.min(k, live.length)
    const slots = { js: { hits: 0, all: 0 }, go: { hits: 0, all: 0 } }
    const perKey = multihashes.map((mh, i) => {
      if (want === 0) return 0
      const held = new Set(holders[i])
      let hits = 0
      for (const n of kClosest(kadKeyOf(mh), live, k)) {
        const hit = held.has(n.peerId)
        slots[n.impl].all++
        if (hit) {
          slots[n.impl].hits++
          hits++
        }
      }
      return hits / want
    })
    const mean = perKey.length > 0 ? perKey.reduce((a, b) => a + b, 0) / perKey.length : 0
    const ratio = ({ hits, all }: { hits: number; all: number }): number | null => (all === 0 ? null : hits / all)
    return { mean, perKey, byImpl: { js: ratio(slots.js), go: ratio(slots.go) } }
  }

  async stopNodes(peerIds: string[]): Promise<void> {
    await this.takeDown(peerIds, 'stopNodes')
  }

  async makeUnreachable(peerIds: string[]): Promise<void> {
    const taken = await this.takeDown(peerIds, 'tarpit')
    for (const id of taken) this.unreachable.add(id)
  }

  async setLatency(meanMs: number, jitterMs = 0): Promise<void> {
    if (!(meanMs >= 0 && jitterMs >= 0)) throw new Error(`latency must be ≥ 0 ms, got ${meanMs} ± ${jitterMs}`)
    await Promise.all(this.liveHandles().map((h) => h.request({ op: 'setLatency', meanMs, jitterMs })))
    this.latency = { meanMs, jitterMs }
  }

  pickLive(fraction: number, opts: { exclude?: ReadonlySet<string>; rand?: () => number } = {}): string[] {
    if (!(fraction >= 0 && fraction <= 1)) throw new Error(`fraction must be within [0, 1], got ${fraction}`)
    const rand = opts.rand ?? Math.random
    const all = this.nodes.filter((n) => !this.stopped.has(n.peerId)).map((n) => n.peerId)
    const live = all.filter((id) => opts.exclude?.has(id) !== true)
    // Fisher–Yates over the first `count` places
    const count = Math.min(live.length, Math.round(all.length * fraction))
    for (let i = 0; i < count; i++) {
      const j = i + Math.floor(rand() * (live.length - i))
      ;[live[i], live[j]] = [live[j], live[i]]
    }
    return live.slice(0, count)
  }

  /** Servers that stop serving, one way or the other; returns those that were still live. */
  private async takeDown(peerIds: string[], op: 'stopNodes' | 'tarpit'): Promise<string[]> {
    const perProcess = new Map<number, number[]>()
    const fresh = new Set<string>()
    for (const id of peerIds) {
      const at = this.place.get(id)
      if (at == null) throw new Error(`not a testnet node: ${id}`)
      if (this.stopped.has(id) || fresh.has(id)) continue
      fresh.add(id)
      perProcess.set(at.process, [...(perProcess.get(at.process) ?? []), at.local])
    }
    await Promise.all([...perProcess].map(([p, locals]) => this.handles[p].request({ op, locals })))
    for (const id of fresh) {
      this.stopped.add(id)
      this.tables.delete(id)
    }
    return [...fresh]
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
