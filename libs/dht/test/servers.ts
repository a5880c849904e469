// A tiny in-process network of real kad-dht servers for this package's tests.
// The real multi-process test network lives in libs/testnet; this one is kept
// in-process so tests can read a server's provider store directly.
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { kadKeyOf } from '@sweep/keyspace'
import { createLibp2p } from 'libp2p'
import { CID } from 'multiformats/cid'
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { Peer, ProvideKey } from '@sweep/sweep'
import type { KadDHT } from '@libp2p/kad-dht'
import type { KadKey } from '@sweep/keyspace'

export type ServerNode = Libp2p<{ dht: KadDHT }>

export interface TestServer {
  readonly node: ServerNode
  readonly id: string
  readonly key: KadKey
  /** Dialable multiaddrs with /p2p/<id>. */
  readonly addrs: string[]
}

// read-only peek at the server's provider store; kad-dht keeps it as a plain member
interface WithProviders {
  readonly providers: { getProviders(cid: CID): Promise<PeerId[]> }
}

export async function startServer(): Promise<TestServer> {
  const node = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { allow: ['/ip4/127.0.0.0/ipcidr/8'], maxConnections: 500 },
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({ clientMode: false, peerInfoMapper: passthroughMapper })
    }
  })
  return {
    node,
    id: node.peerId.toString(),
    key: kadKeyOf(node.peerId.toMultihash().bytes),
    addrs: node.getMultiaddrs().map((ma) => ma.toString())
  }
}

/** Starts n servers, links each to a few others, and lets every one look itself up. */
export async function startServers(n: number): Promise<TestServer[]> {
  const servers = await Promise.all(Array.from({ length: n }, () => startServer()))
  const links = Math.min(4, n - 1)
  await Promise.all(servers.map(async (s, i) => {
    for (const j of linkTargets(i, n, links)) await s.node.dial(servers[j].node.getMultiaddrs())
  }))
  await waitFor(() => servers.every((s) => tableSize(s.node) >= links), 15_000, 'server routing tables to fill')
  // one self lookup per server spreads knowledge of every server across the tables
  await Promise.all(servers.map(async (s) => {
    for await (const _ of s.node.services.dht.getClosestPeers(s.node.peerId.toMultihash().bytes)) { /* drain */ }
  }))
  return servers
}

/** `count` distinct other servers for server i, spread over the ring so the graph mixes quickly. */
function linkTargets(i: number, n: number, count: number): number[] {
  const out: number[] = []
  for (let step = 1; out.length < count; step++) {
    const j = (i + step * 7) % n
    if (j !== i && !out.includes(j)) out.push(j)
    if (step > 4 * n) for (let k = 0; k < n && out.length < count; k++) if (k !== i && !out.includes(k)) out.push(k)
  }
  return out
}

export async function stopServers(servers: readonly TestServer[]): Promise<void> {
  await Promise.all(servers.map((s) => s.node.stop()))
}

/** Peer ids the server holds a provider record from, for this multihash. */
export async function providersOf(server: TestServer, multihash: Uint8Array): Promise<string[]> {
  const store = (server.node.services.dht as unknown as WithProviders).providers
  // the server stores by CID.decode(key): a bare sha2-256 multihash decodes as CIDv0
  const ids = await store.getProviders(CID.decode(multihash))
  return ids.map((id) => id.toString())
}

export function tableSize(node: ServerNode): number {
  return (node.services.dht as unknown as { routingTable: { size: number } }).routingTable.size
}

export async function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

/** The Peer the router would hand over: addresses without /p2p. */
export function peerOf(server: TestServer): Peer {
  return { id: server.id, key: server.key, addrs: server.node.getMultiaddrs().map((ma) => ma.decapsulateCode(421).toString()) }
}

/** How many of the keys the server holds a record for from this provider. */
export async function heldBy(server: TestServer, keys: readonly ProvideKey[], providerId: string): Promise<number> {
  let held = 0
  for (const k of keys) if ((await providersOf(server, k.multihash)).includes(providerId)) held++
  return held
}
