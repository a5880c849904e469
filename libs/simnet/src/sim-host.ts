import { kadKeyOf, type KadKey } from '@sweep/keyspace'
import type { ClosestPeersRouter, Peer, ProvideKey, RecordSender, SendOutcome } from '@sweep/sweep'
import { ConnectionPool } from './connection-pool.ts'
import { iterativeFindNode } from './kad-lookup.ts'
import { Prng } from './prng.ts'
import { closestAmong, Int32List, sampleRoutingTable } from './routing-table.ts'
import type { SimNetwork } from './sim-network.ts'

export interface SimHostOptions {
  /** Seeds the host's key, routing table and failure draws; derived from the network's seed by default. */
  readonly seed?: number
  /** Open connections kept; past this the least recently used one closes. */
  readonly connectionCapacity?: number
  /** FIND_NODE queries in flight per lookup. */
  readonly alpha?: number
  /** Peers a lookup returns. */
  readonly k?: number
  /** Probability that a live server drops a whole send (a stream reset), drawn per send. */
  readonly sendFailureRate?: number
}

export interface SimHostStats {
  /** getClosestPeers calls. */
  readonly lookups: number
  /** FIND_NODE requests issued, including those that timed out. */
  readonly rpcs: number
  readonly rpcTimeouts: number
  readonly connectionsOpened: number
  /** send calls. */
  readonly sends: number
  /** sends that delivered nothing: unreachable, unknown peer or simulated failure. */
  readonly sendFailures: number
  /** ADD_PROVIDER messages delivered (one per record). */
  readonly messagesSent: number
}

/**
 * The provider's worker host: the ClosestPeersRouter and RecordSender the sweep
 * algorithm runs on. It is not a server itself. Every cost is an await on the
 * network's virtual clock, so concurrent requests overlap in virtual time.
 */
export class SimHost implements ClosestPeersRouter, RecordSender {
  readonly key: KadKey
  readonly k: number
  readonly alpha: number
  readonly sendFailureRate: number
  private readonly network: SimNetwork
  private readonly prng: Prng
  private readonly table: Int32Array
  private readonly pool: ConnectionPool
  /** Dials in progress, so concurrent requests to one server share a single dial. */
  private readonly dialing = new Map<number, Promise<boolean>>()
  private readonly counters = { lookups: 0, rpcs: 0, rpcTimeouts: 0, connectionsOpened: 0, sends: 0, sendFailures: 0, messagesSent: 0 }

  constructor(network: SimNetwork, options: SimHostOptions & { readonly seed: number }) {
    this.network = network
    this.k = options.k ?? 20
    this.alpha = options.alpha ?? 3
    this.sendFailureRate = options.sendFailureRate ?? 0
    this.pool = new ConnectionPool(options.connectionCapacity ?? 256)
    this.prng = new Prng(options.seed)
    this.key = this.prng.bytes(32)
    const contacts = new Int32List(network.bucketSize * 16)
    sampleRoutingTable(network.keys, this.key, -1, network.bucketSize, this.prng, contacts)
    this.table = contacts.toInt32Array()
  }

  stats(): SimHostStats {
    return { ...this.counters }
  }

  /** Server indices in the host's own routing table. */
  routingTable(): Int32Array {
    return this.table
  }

  isConnected(peer: Peer): boolean {
    const index = this.network.indexOf(peer)
    return index !== undefined && this.pool.has(index)
  }

  /** Connected server indices, least recently used first. */
  connectedServers(): number[] {
    return this.pool.servers()
  }

  async getClosestPeers(preimage: Uint8Array): Promise<readonly Peer[]> {
    this.counters.lookups++
    const target = kadKeyOf(preimage)
    const seeds = closestAmong(this.network.keys, this.table, 0, this.table.length, target, this.k)
    const found = await iterativeFindNode(this.network.keys, target, seeds, this.k, this.alpha, (server) => this.findNode(server, target))
    return found.map((server) => this.network.peer(server))
  }

  /** Delivers every record when the server is live; never throws. Concurrent sends to one server overlap. */
  async send(peer: Peer, keys: readonly ProvideKey[]): Promise<SendOutcome> {
    this.counters.sends++
    try {
      const server = this.network.indexOf(peer)
      if (server === undefined) return this.failedSend(`unknown peer ${peer.id}`)
      if (keys.length === 0) return { sent: 0 }
      if (!(await this.connect(server))) return this.failedSend('unreachable')
      const rtt = this.network.rttMs(server)
      if (this.sendFailureRate > 0 && this.prng.float() < this.sendFailureRate) {
        await this.network.clock.sleep(rtt)
        return this.failedSend('stream reset (simulated failure)')
      }
      await this.network.clock.sleep(rtt + keys.length * this.network.latency.perRecordMs)
      this.network.deliver(server, keys)
      this.counters.messagesSent += keys.length
      return { sent: keys.length }
    } catch (error) {
      return this.failedSend(error instanceof Error ? error.message : String(error))
    }
  }

  /**
   * Does nothing: released peers' connections simply age out of the LRU pool as
   * other servers are contacted, which is what a libp2p connection manager does too.
   */
  async release(_peers: readonly Peer[]): Promise<void> {}

  private failedSend(error: string): SendOutcome {
    this.counters.sendFailures++
    return { sent: 0, error }
  }

  private async findNode(server: number, target: KadKey): Promise<readonly number[] | null> {
    this.counters.rpcs++
    if (!(await this.connect(server))) {
      this.counters.rpcTimeouts++
      return null
    }
    await this.network.clock.sleep(this.network.rttMs(server))
    return this.network.answerFindNode(server, target)
  }

  /**
   * Resolves true once a connection is open (reused, or dialled at connectRtts
   * round trips), false after the dial timeout when the server never answers.
   */
  private connect(server: number): Promise<boolean> {
    if (this.pool.use(server)) {
      if (this.network.isReachable(server)) return Promise.resolve(true)
      // The server went away while connected: the next request discovers it by timing out.
      this.pool.drop(server)
    }
    const pending = this.dialing.get(server)
    if (pending) return pending
    const dial = this.dial(server)
    this.dialing.set(server, dial)
    return dial
  }

  private async dial(server: number): Promise<boolean> {
    const { clock, latency } = this.network
    try {
      if (!this.network.isReachable(server)) {
        await clock.sleep(latency.dialTimeoutMs)
        return false
      }
      await clock.sleep(latency.connectRtts * this.network.rttMs(server))
      this.pool.add(server)
      this.counters.connectionsOpened++
      return true
    } finally {
      this.dialing.delete(server)
    }
  }
}
