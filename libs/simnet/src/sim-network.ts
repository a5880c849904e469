import { bitAt, keyHead32, type KadKey } from '@sweep/keyspace'
import type { Peer, ProvideKey } from '@sweep/sweep'
import { DeliveryLog, type KeySampler } from './delivery-log.ts'
import { deriveSeed, Prng } from './prng.ts'
import { buildRoutingTables, closestAmong, type RoutingTables } from './routing-table.ts'
import { SimHost, type SimHostOptions } from './sim-host.ts'
import { SortedKeys } from './sorted-keys.ts'
import { VirtualClock } from './virtual-clock.ts'

/** Virtual-time costs. Each server's round-trip time is drawn uniformly from [minRttMs, maxRttMs] (whole ms). */
export interface LatencyOptions {
  readonly minRttMs?: number
  readonly maxRttMs?: number
  /** Round trips to open a connection before the first request: TCP, then the Noise handshake. */
  readonly connectRtts?: number
  /** What a dial or request to a server that never answers costs before giving up. */
  readonly dialTimeoutMs?: number
  /** Server-side cost of one ADD_PROVIDER record (measured: ~0.25 ms on a js server). */
  readonly perRecordMs?: number
}

export type LatencySettings = Required<LatencyOptions>

export interface SimNetworkOptions {
  readonly servers: number
  readonly seed: number
  /** k-bucket size of every routing table, and how many contacts a FIND_NODE answer holds. */
  readonly bucketSize?: number
  /** Share of servers (picked by the PRNG) that never answer anything. */
  readonly unreachableFraction?: number
  readonly latency?: LatencyOptions
  /** Which kad keys get their recipients recorded (default: all; null: none). */
  readonly recordKeysWhere?: KeySampler
  /** Shared virtual time; a new clock at t = 0 by default. */
  readonly clock?: VirtualClock
}

export interface TrueClosestOptions {
  /** Skip unreachable servers (default true), as a perfect lookup would. */
  readonly liveOnly?: boolean
}

const STREAM_KEYS = 1
const STREAM_TABLES = 2
const STREAM_REACHABILITY = 3
const STREAM_LATENCY = 4
const STREAM_HOSTS = 1000

/**
 * An in-memory Kademlia network of DHT servers. Server i is the i-th server in
 * keyspace order (id `s<i>`), so any prefix's servers are one index range.
 * Servers are passive: hosts (createHost) drive all traffic, and the network
 * answers FIND_NODE from the routing tables and records what ADD_PROVIDER delivers.
 */
export class SimNetwork {
  readonly seed: number
  readonly size: number
  readonly bucketSize: number
  readonly clock: VirtualClock
  readonly latency: LatencySettings
  readonly delivery: DeliveryLog
  readonly keys: SortedKeys
  private readonly tables: RoutingTables
  private readonly peers: Peer[]
  private readonly indexById = new Map<string, number>()
  private readonly reachable: Uint8Array
  private readonly rtts: Float64Array
  /** liveBefore[i] = reachable servers among 0..i-1; rebuilt lazily after setReachable. */
  private liveBefore: Int32Array | undefined
  private hostsCreated = 0

  static create(options: SimNetworkOptions): SimNetwork {
    return new SimNetwork(options)
  }

  private constructor(options: SimNetworkOptions) {
    const { servers, seed, bucketSize = 20, unreachableFraction = 0 } = options
    if (!Number.isInteger(servers) || servers < 1) throw new Error(`servers must be a positive integer, got ${servers}`)
    if (!(unreachableFraction >= 0 && unreachableFraction <= 1)) throw new Error(`unreachableFraction must be in [0, 1], got ${unreachableFraction}`)
    this.seed = seed
    this.size = servers
    this.bucketSize = bucketSize
    this.clock = options.clock ?? new VirtualClock()
    this.latency = {
      minRttMs: 20,
      maxRttMs: 180,
      connectRtts: 2,
      dialTimeoutMs: 5000,
      perRecordMs: 0.25,
      ...options.latency
    }
    this.delivery = new DeliveryLog(servers, options.recordKeysWhere === undefined ? () => true : options.recordKeysWhere)

    const keyPrng = new Prng(deriveSeed(seed, STREAM_KEYS))
    const randomKeys: KadKey[] = []
    for (let i = 0; i < servers; i++) randomKeys.push(keyPrng.bytes(32))
    this.keys = new SortedKeys(randomKeys)
    this.tables = buildRoutingTables(this.keys, bucketSize, new Prng(deriveSeed(seed, STREAM_TABLES)))

    this.peers = []
    for (let i = 0; i < servers; i++) {
      const peer: Peer = { id: `s${i}`, key: new Uint8Array(this.keys.key(i)), addrs: [] }
      this.peers.push(peer)
      this.indexById.set(peer.id, i)
    }

    this.reachable = new Uint8Array(servers).fill(1)
    const down = pickDistinct(servers, Math.round(unreachableFraction * servers), new Prng(deriveSeed(seed, STREAM_REACHABILITY)))
    for (const i of down) this.reachable[i] = 0

    const latencyPrng = new Prng(deriveSeed(seed, STREAM_LATENCY))
    this.rtts = new Float64Array(servers)
    for (let i = 0; i < servers; i++) this.rtts[i] = latencyPrng.intBetween(this.latency.minRttMs, this.latency.maxRttMs)
  }

  /** A host for the provider's side, with its own key, routing table and counters. */
  createHost(options: SimHostOptions = {}): SimHost {
    const seed = options.seed ?? deriveSeed(this.seed, STREAM_HOSTS + this.hostsCreated)
    this.hostsCreated++
    return new SimHost(this, { ...options, seed })
  }

  peer(index: number): Peer {
    const peer = this.peers[index]
    if (peer === undefined) throw new Error(`no server ${index} (network has ${this.size})`)
    return peer
  }

  /** The server index of a peer or peer id; undefined when it is not a server of this network. */
  indexOf(peer: Peer | string): number | undefined {
    return this.indexById.get(typeof peer === 'string' ? peer : peer.id)
  }

  isReachable(index: number): boolean {
    return this.reachable[index] === 1
  }

  setReachable(index: number, reachable: boolean): void {
    this.peer(index)
    this.reachable[index] = reachable ? 1 : 0
    this.liveBefore = undefined
  }

  get reachableCount(): number {
    const live = this.liveCounts()
    return live[this.size]
  }

  rttMs(index: number): number {
    return this.rtts[index]
  }

  /** Server indices in a server's routing table (a view; do not modify). */
  routingTable(index: number): Int32Array {
    return this.tables.contacts.subarray(this.tables.offsets[index], this.tables.offsets[index + 1])
  }

  /** Contacts across all routing tables (a memory and realism gauge). */
  get totalContacts(): number {
    return this.tables.contacts.length
  }

  /** Server side of FIND_NODE: the bucketSize contacts in its table closest to target, closest first. */
  answerFindNode(index: number, target: KadKey): number[] {
    const { offsets, contacts } = this.tables
    return closestAmong(this.keys, contacts, offsets[index], offsets[index + 1], target, this.bucketSize)
  }

  /** Server side of ADD_PROVIDER: the server stores the records (here: the log counts them). */
  deliver(index: number, keys: readonly ProvideKey[]): void {
    this.delivery.record(index, keys)
  }

  /**
   * Global knowledge: the k servers XOR-closest to target, as server indices,
   * closest first. Descends to the deepest subtree around target that still
   * holds ≥ k candidates (every server outside it is farther than every one
   * inside), then sorts just that subtree.
   */
  trueClosest(target: KadKey, k: number, options: TrueClosestOptions = {}): number[] {
    const liveOnly = options.liveOnly ?? true
    const live = liveOnly ? this.liveCounts() : undefined
    const candidates = (lo: number, hi: number): number => (live ? live[hi] - live[lo] : hi - lo)
    let lo = 0
    let hi = this.size
    for (let depth = 0; depth < 256 && hi - lo > 1; depth++) {
      const split = this.keys.splitAt(lo, hi, depth)
      const [childLo, childHi] = bitAt(target, depth) === 0 ? [lo, split] : [split, hi]
      if (candidates(childLo, childHi) < k) break
      lo = childLo
      hi = childHi
    }
    const found: number[] = []
    for (let i = lo; i < hi; i++) if (!liveOnly || this.reachable[i] === 1) found.push(i)
    const head = keyHead32(target)
    found.sort((a, b) => this.keys.compareDistance(target, head, a, b))
    return found.slice(0, k)
  }

  private liveCounts(): Int32Array {
    if (this.liveBefore === undefined) {
      const counts = new Int32Array(this.size + 1)
      for (let i = 0; i < this.size; i++) counts[i + 1] = counts[i] + this.reachable[i]
      this.liveBefore = counts
    }
    return this.liveBefore
  }
}

/** `count` distinct indices of [0, n), by a partial Fisher–Yates shuffle. */
function pickDistinct(n: number, count: number, prng: Prng): Int32Array {
  const order = new Int32Array(n)
  for (let i = 0; i < n; i++) order[i] = i
  for (let i = 0; i < count; i++) {
    const j = i + prng.int(n - i)
    const swap = order[i]
    order[i] = order[j]
    order[j] = swap
  }
  return order.subarray(0, count)
}
