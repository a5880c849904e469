/**
 * One real, unmodified `@libp2p/kad-dht` server on 127.0.0.1, and the few
 * read-only views of its internals that the inspector needs.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper, type KadDHT } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { kadKeyOf } from '@sweep/keyspace'
import { createLibp2p, type Libp2p } from 'libp2p'
import { CID } from 'multiformats/cid'
import { base32 } from 'multiformats/bases/base32'
import * as Digest from 'multiformats/hashes/digest'

// Types reached through libp2p itself: @libp2p/interface is not a declared dependency.
type ComponentLogger = NonNullable<NonNullable<Parameters<typeof createLibp2p>[0]>['logger']>
type Logger = ReturnType<ComponentLogger['forComponent']>
type PeerId = Libp2p['peerId']

export const DEFAULT_PROTOCOL = '/ipfs/kad/1.0.0'

/** Raw codec: the provider store is keyed by multihash, so any codec would do. */
const RAW = 0x55

/** Where kad-dht's Providers writes: `${datastorePrefix}/provider/<b32 multihash>/<peer id>` (datastorePrefix defaults to /dht). */
const PROVIDER_PREFIX = '/dht/provider/'

export type ServerNode = Libp2p<{ dht: KadDHT; identify: unknown; ping: unknown }>

/** The members of kad-dht's KadDHT class that its public interface type hides; read only. */
interface DhtInternals {
  routingTable: { size: number; closestPeers(kadId: Uint8Array, options?: { count?: number }): PeerId[] }
  providers: { getProviders(cid: CID): Promise<PeerId[]> }
}

/** A structural view of libp2p's datastore (interface-datastore is not our dependency). */
interface DatastoreView {
  query(q: { prefix: string }): AsyncIterable<{ key: { toString(): string } }> | Iterable<{ key: { toString(): string } }>
}

/**
 * libp2p builds a debug logger per connection and stream even when DEBUG is
 * unset, a few percent of the CPU of every handshake. Servers stay silent
 * unless DEBUG asks for logs.
 */
function silentLogger(): ComponentLogger {
  const log = Object.assign(() => {}, { error: () => {}, trace: () => {}, enabled: false }) as unknown as Logger
  log.newScope = () => log
  return { forComponent: () => log }
}

export async function createServer(protocol: string): Promise<ServerNode> {
  return createLibp2p({
    ...(process.env.DEBUG == null || process.env.DEBUG === '' ? { logger: silentLogger() } : {}),
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: {
      // Every peer is on 127.0.0.1, so the per-host inbound rate limit (5/s) and the
      // pending-upgrade cap (10) would refuse most of a bootstrap wave. An allowed host
      // skips all three checks (rate limit, pending cap, maxConnections); the raised
      // limits below are only a second line for non-loopback test setups.
      allow: ['/ip4/127.0.0.0/ipcidr/8'],
      inboundConnectionThreshold: 1_000_000,
      maxIncomingPendingConnections: 10_000,
      // kad-dht keeps a connection to every routing-table peer; pruning those (the
      // default cap is 100) would only churn the tables.
      maxConnections: 100_000
    },
    // libp2p's connection monitor opens a ping stream on every connection every 10 s
    // and aborts the connection when a ping is slow. At 300 servers that is ~900
    // streams/s of background CPU; on a saturated 2-core box slow pings cascade into
    // mass aborts and redials (measured: tables intact but 0.6 open connections per
    // server after 11 min). yamux's own keepalive (30 s) still keeps sockets open,
    // and stock go servers run no such monitor.
    connectionMonitor: { enabled: false },
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({
        protocol,
        clientMode: false,
        // The default mapper drops loopback addresses, which are all we have.
        peerInfoMapper: passthroughMapper,
        // The testnet wires routing tables itself. The stock first self-query, 1 s after
        // start, would run on a half-wired table and compete with the seed handshakes;
        // it runs at the normal 5-minute interval instead. Until that first self-query,
        // kad-dht holds back every other query, so lift that hold, or an optional
        // startup self-lookup (and the initial table refresh) would wait 5 minutes.
        allowQueryWithZeroPeers: true,
        initialQuerySelfInterval: 5 * 60_000
      })
    }
  }) as Promise<ServerNode>
}

function internals(node: ServerNode): DhtInternals {
  return node.services.dht as unknown as DhtInternals
}

/** Every peer id in the node's kad routing table. */
export function routingTablePeers(node: ServerNode): string[] {
  const table = internals(node).routingTable
  return table.closestPeers(kadKeyOf(node.peerId.toMultihash().bytes), { count: table.size }).map((p) => p.toString())
}

/** Runs the same FIND_NODE walk as kad-dht's own self-query, to completion. */
export async function selfLookup(node: ServerNode, signal?: AbortSignal): Promise<void> {
  for await (const _ of node.services.dht.getClosestPeers(node.peerId.toMultihash().bytes, { signal })) {
    // drain: the routing table fills as a side effect of the walk
  }
}

export interface ProviderRecord { id: string; addrs: string[] }

/** The provider records this server holds for a multihash, with the addresses it stored for each provider. */
export async function providerRecords(node: ServerNode, multihash: Uint8Array): Promise<ProviderRecord[]> {
  const cid = CID.createV1(RAW, Digest.decode(multihash))
  const ids = await internals(node).providers.getProviders(cid)
  return Promise.all(ids.map(async (id) => {
    let addrs: string[] = []
    try {
      const peer = await node.peerStore.get(id)
      addrs = peer.addresses.map((a) => a.multiaddr.toString())
    } catch {
      // the record survives a peer-store eviction; report it with no addresses
    }
    return { id: id.toString(), addrs }
  }))
}

/**
 * Every multihash this server holds a record for (from `provider` only, when given),
 * as the base32 text the store keys on.
 * One scan of the datastore: Providers.getProviders is itself a full scan per call,
 * so asking it for 20k keys would be 20k scans.
 */
export async function heldKeys(node: ServerNode, provider?: string): Promise<Set<string>> {
  const store = (node as unknown as { components?: { datastore?: DatastoreView } }).components?.datastore
  if (store == null) throw new Error('libp2p no longer exposes components.datastore; update heldKeys')
  const held = new Set<string>()
  for await (const { key } of store.query({ prefix: PROVIDER_PREFIX })) {
    const text = key.toString()
    // <prefix><b32 multihash>/<provider peer id>
    const end = text.indexOf('/', PROVIDER_PREFIX.length)
    if (provider != null && (end < 0 || text.slice(end + 1) !== provider)) continue
    held.add(text.slice(PROVIDER_PREFIX.length, end < 0 ? undefined : end))
  }
  return held
}

/** The store's text for a multihash: base32 (RFC 4648 lowercase, no multibase prefix). */
export function storeKey(multihash: Uint8Array): string {
  return base32.baseEncode(multihash)
}
