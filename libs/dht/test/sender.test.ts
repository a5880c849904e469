import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSweepHost, SWEEP_TAG } from '../src/index.ts'
import { randomProvideKeys } from './keys.ts'
import { heldBy, peerOf, startServers, stopServers } from './servers.ts'
import type { SweepHost } from '../src/index.ts'
import type { TestServer } from './servers.ts'

const SERVERS = 25



describe('sender: ADD_PROVIDER over one long-lived stream', () => {
  let servers: TestServer[]
  const hosts: SweepHost[] = []

  beforeAll(async () => {
    servers = await startServers(SERVERS)
  })

  afterAll(async () => {
    await Promise.all(hosts.map((h) => h.stop()))
    await stopServers(servers ?? [])
  })

  async function newHost(privateKey?: Awaited<ReturnType<typeof generateKeyPair>>): Promise<SweepHost> {
    const host = await createSweepHost({
      privateKey: privateKey ?? await generateKeyPair('Ed25519'),
      bootstrap: servers.slice(0, 2).map((s) => s.addrs[0])
    })
    hosts.push(host)
    return host
  }

  it('stores 300 records on one server over exactly one stream, and keeps it across send() calls', async () => {
    const host = await newHost()
    const server = servers[5]
    const peer = peerOf(server)
    const keys = randomProvideKeys(300)
    const outcome = await host.sender.send(peer, keys)
    expect(outcome).toEqual({ sent: 300 })
    expect(await heldBy(server, keys, host.peerId)).toBe(300)
    let stats = host.sender.stats()
    expect(stats.streamsOpened).toBe(1)
    expect(stats.messagesWritten).toBe(300)
    expect(stats.recordsConfirmed).toBe(300)
    expect(stats.reopens).toBe(0)
    // a region's next batch to the same peer rides the same stream
    const more = randomProvideKeys(150)
    expect(await host.sender.send(peer, more)).toEqual({ sent: 150 })
    expect(await heldBy(server, more, host.peerId)).toBe(150)
    stats = host.sender.stats()
    expect(stats.streamsOpened).toBe(1)
    expect(stats.connectionsOpened).toBe(1)
    const tagged = await host.libp2p.peerStore.get(host.libp2p.getConnections().find((c) => c.remotePeer.toString() === peer.id)!.remotePeer)
    expect(tagged.tags.has(SWEEP_TAG)).toBe(true)
    console.log(`[sender] 450 records, stats ${JSON.stringify(stats)}`)

    await host.sender.release?.([peer])
    expect(host.sender.stats().peersHeld).toBe(0)
    expect((await host.libp2p.peerStore.get(tagged.id)).tags.has(SWEEP_TAG)).toBe(false)
  })

  it('dials by peer id when the peer comes without addresses', async () => {
    const host = await newHost()
    const server = servers[9]
    // the host learned the server's addresses during bootstrap or not at all; either way libp2p finds them by id
    await host.libp2p.peerStore.merge(server.node.peerId, { multiaddrs: server.node.getMultiaddrs() })
    const keys = randomProvideKeys(20)
    expect(await host.sender.send({ ...peerOf(server), addrs: [] }, keys)).toEqual({ sent: 20 })
    expect(await heldBy(server, keys, host.peerId)).toBe(20)
  })

  it('two hosts sharing one identity send different keys to different servers at once', async () => {
    const identity = await generateKeyPair('Ed25519')
    const [a, b] = await Promise.all([newHost(identity), newHost(identity)])
    expect(a.peerId).toBe(b.peerId)
    const [keysA, keysB] = [randomProvideKeys(200), randomProvideKeys(200)]
    const [outA, outB] = await Promise.all([
      a.sender.send(peerOf(servers[6]), keysA),
      b.sender.send(peerOf(servers[7]), keysB)
    ])
    expect(outA).toEqual({ sent: 200 })
    expect(outB).toEqual({ sent: 200 })
    expect(await heldBy(servers[6], keysA, a.peerId)).toBe(200)
    expect(await heldBy(servers[7], keysB, b.peerId)).toBe(200)
    // each server got only the keys sent to it
    expect(await heldBy(servers[6], keysB, a.peerId)).toBe(0)
  })
})
