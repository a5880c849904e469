/** The kad protocol id is configurable, and servers speak only the one they were given. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { peerIdFromString } from '@libp2p/peer-id'
import { startTestnet, type Testnet } from '../src/index.ts'
import { startClient, type Client } from './client.ts'

const PROTOCOL = '/sweep-test/kad/1.0.0'

describe('custom kad protocol', () => {
  let net: Testnet
  let client: Client

  beforeAll(async () => {
    net = await startTestnet({ nodes: 8, processes: 2, protocol: PROTOCOL })
    client = await startClient(net.bootstrap)
  })

  afterAll(async () => {
    await client?.stop()
    await net?.stop()
  })

  it('advertises it instead of /ipfs/kad/1.0.0 and still fills the tables', async () => {
    expect(net.info().protocol).toBe(PROTOCOL)
    for (const addr of net.bootstrap) {
      const id = peerIdFromString(addr.split('/p2p/')[1])
      // identify runs after the dial returns; wait for its result to reach the peer store
      await expect.poll(async () => (await client.peerStore.get(id)).protocols, { timeout: 10_000 }).toContain(PROTOCOL)
      const peer = await client.peerStore.get(id)
      expect(peer.protocols).not.toContain('/ipfs/kad/1.0.0')
    }
    for (const t of (await net.measureTables()).values()) expect(t.size).toBe(7)
  })
})
