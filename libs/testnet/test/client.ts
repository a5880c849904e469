/**
 * A real DHT client for the tests: an ordinary libp2p node in kad-dht client
 * mode, outside the testnet, that reaches it through the bootstrap addresses.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper, type KadDHT } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'

export type Client = Libp2p<{ dht: KadDHT; identify: unknown; ping: unknown }>

export async function startClient(bootstrap: string[]): Promise<Client> {
  const client = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // Providing several CIDs at once touches more than the default 100 peers;
    // pruning would cut ADD_PROVIDER streams and make the test measure that instead.
    connectionManager: { maxConnections: 10_000 },
    services: {
      identify: identify(),
      ping: ping(),
      // passthroughMapper: the record must carry our loopback address, or servers drop it
      dht: kadDHT({ clientMode: true, peerInfoMapper: passthroughMapper })
    }
  }) as Client
  for (const addr of bootstrap) await client.dial(multiaddr(addr))
  return client
}

/** Random sha2-256 CIDv1s, as a real provider would announce. */
export async function randomCids(count: number): Promise<CID[]> {
  return Promise.all(Array.from({ length: count }, async () =>
    CID.createV1(raw.code, await sha256.digest(crypto.getRandomValues(new Uint8Array(32))))))
}

/** The client's listen addresses without the /p2p suffix, as servers store them. */
export function transportAddrs(client: Client): string[] {
  const id = client.peerId.toString()
  return client.getMultiaddrs().map((m) => m.toString().replace(`/p2p/${id}`, ''))
}
