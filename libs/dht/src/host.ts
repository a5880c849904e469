import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { bootstrap } from './bootstrap.ts'
import { FailedPeers } from './failed-peers.ts'
import { HostLag } from './host-lag.ts'
import { privateAddrGate, type PrivateAddrPolicy } from './private-addrs.ts'
import { RecordEncoder } from './records.ts'
import { Libp2pRouter } from './router.ts'
import { Libp2pSender } from './sender.ts'
import type { RouterStats } from './router.ts'
import type { SenderStats } from './sender.ts'
import type { Identify } from '@libp2p/identify'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Ping } from '@libp2p/ping'
import type { ClosestPeersRouter, RecordSender } from '@sweep/sweep'

export const DEFAULT_PROTOCOL = '/ipfs/kad/1.0.0'
export const LOOPBACK_ALLOW = '/ip4/127.0.0.0/ipcidr/8'
export const DEFAULT_DIAL_TIMEOUT_MS = 5000

export interface SweepHostOptions {
  /** The provider identity: servers keep a record only from the peer it names. */
  readonly privateKey: PrivateKey
  /** Multiaddrs with /p2p/<id>. */
  readonly bootstrap: readonly string[]
  readonly listen?: readonly string[]
  /** Addresses put in provider records; default: the host's own listen addresses. */
  readonly announce?: readonly string[]
  readonly protocol?: string
  readonly sendTimeoutMs?: number
  readonly kBucketSize?: number
  readonly bootstrapTimeoutMs?: number
  readonly lookupTimeoutMs?: number
  /**
   * One dial's limit, handshakes included. libp2p's 10 s default lets a silent
   * server hold a send that long; an Amino handshake takes under a second.
   */
  readonly dialTimeoutMs?: number
  /** How long a peer whose dial failed is not dialled again. */
  readonly failedPeerTtlMs?: number
  /** Extra connection-manager allow-list entries; loopback is always allowed. */
  readonly allow?: readonly string[]
  readonly maxConnections?: number
  /** Whether addresses that peers hand out may be private or loopback; default `auto` (see PrivateAddrPolicy). */
  readonly privateAddrs?: PrivateAddrPolicy
}

export type SweepServices = { dht: KadDHT, identify: Identify, ping: Ping }

export interface SweepHost {
  readonly libp2p: Libp2p<SweepServices>
  readonly peerId: string
  readonly router: ClosestPeersRouter & { stats(): RouterStats }
  readonly sender: RecordSender & { stats(): SenderStats }
  /** Peers this host found undialable lately; dials to them are refused at once. */
  readonly failedPeers: FailedPeers
  announceAddrs(): string[]
  stop(): Promise<void>
}

/** A DHT-client libp2p host with the router and sender the sweep algorithm runs on. */
export async function createSweepHost(opts: SweepHostOptions): Promise<SweepHost> {
  const protocol = opts.protocol ?? DEFAULT_PROTOCOL
  const k = opts.kBucketSize ?? 20
  const lag = new HostLag()
  const failedPeers = new FailedPeers({ ttlMs: opts.failedPeerTtlMs, hostLag: (ms) => lag.within(ms) })
  const libp2p = await createLibp2p<SweepServices>({
    privateKey: opts.privateKey,
    addresses: {
      listen: [...(opts.listen ?? ['/ip4/127.0.0.1/tcp/0'])],
      ...(opts.announce !== undefined ? { announce: [...opts.announce] } : {})
    },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: { ...failedPeers.gater(), denyDialMultiaddr: privateAddrGate(opts.privateAddrs ?? 'auto', opts.bootstrap) },
    connectionManager: {
      dialTimeout: opts.dialTimeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS,
      // loopback test networks dial and get dialled by 100+ peers at once; the
      // defaults (5 inbound/s per host, 100 connections) break their bootstrap
      allow: [LOOPBACK_ALLOW, ...(opts.allow ?? [])],
      maxConnections: opts.maxConnections ?? 1_000,
      maxIncomingPendingConnections: 100,
      maxParallelDials: 200,
      maxDialQueueLength: 2_000
    },
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({
        clientMode: true,
        protocol,
        kBucketSize: k,
        // the default mapper strips private and loopback addresses from lookup answers
        peerInfoMapper: passthroughMapper
      })
    }
  })

  const stopping = new AbortController()
  let router: Libp2pRouter
  let sender: Libp2pSender
  let announce: string[]
  try {
    await bootstrap(libp2p, opts.bootstrap, { timeoutMs: opts.bootstrapTimeoutMs })
    announce = opts.announce !== undefined ? [...opts.announce] : ownAddrs(libp2p)
    router = new Libp2pRouter(libp2p, { k, lookupTimeoutMs: opts.lookupTimeoutMs, signal: stopping.signal, failedPeers })
    sender = new Libp2pSender({
      libp2p,
      protocol,
      encoder: new RecordEncoder(libp2p.peerId, announce),
      sendTimeoutMs: opts.sendTimeoutMs,
      signal: stopping.signal,
      failedPeers
    })
  } catch (err) {
    lag.stop()
    await libp2p.stop()
    throw err
  }

  return {
    libp2p,
    peerId: libp2p.peerId.toString(),
    router,
    sender,
    failedPeers,
    announceAddrs: () => [...announce],
    stop: async () => {
      stopping.abort(new Error('host stopped'))
      sender.abortAll('host stopped')
      lag.stop()
      await libp2p.stop()
    }
  }
}

/** Listen addresses as bound (real ports), without the /p2p suffix records don't carry. */
function ownAddrs(libp2p: Libp2p): string[] {
  const addrs = libp2p.getMultiaddrs().map((ma) => {
    const p2p = ma.getComponents().findLast((c) => c.name === 'p2p')
    return p2p === undefined ? ma : ma.decapsulate(`/p2p/${p2p.value}`)
  })
  return [...new Set(addrs.map((ma) => ma.toString()))]
}
