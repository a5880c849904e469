import { randomBytes } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { kadKeyOf } from '@sweep/keyspace'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSweepHost, Libp2pSender, RecordEncoder } from '../src/index.ts'
import { randomProvideKeys } from './keys.ts'
import { heldBy, peerOf, startServers, stopServers } from './servers.ts'
import type { SweepHost } from '../src/index.ts'
import type { TestServer } from './servers.ts'



describe('stream lifecycle against js servers', () => {
  let servers: TestServer[]
  let host: SweepHost

  beforeAll(async () => {
    servers = await startServers(4)
    host = await createSweepHost({ privateKey: await generateKeyPair('Ed25519'), bootstrap: [servers[0].addrs[0]] })
  })

  afterAll(async () => {
    await host?.stop()
    await stopServers(servers ?? [])
  })

  it('survives the server\'s 10 s idle timeout between two sends, with or without replacing the stream first', async () => {
    // a second sender on the same host that never replaces idle streams itself, so the server's abort is what it meets
    const patient = new Libp2pSender({
      libp2p: host.libp2p,
      protocol: '/ipfs/kad/1.0.0',
      encoder: new RecordEncoder(host.libp2p.peerId, host.announceAddrs()),
      idleReopenMs: Number.POSITIVE_INFINITY
    })
    const [first, second] = [randomProvideKeys(100), randomProvideKeys(100)]
    const [early, late] = [randomProvideKeys(100), randomProvideKeys(100)]
    expect(await host.sender.send(peerOf(servers[1]), first)).toEqual({ sent: 100 })
    expect(await patient.send(peerOf(servers[2]), early)).toEqual({ sent: 100 })
    await new Promise((resolve) => setTimeout(resolve, 11_000))
    expect(await host.sender.send(peerOf(servers[1]), second)).toEqual({ sent: 100 })
    expect(await patient.send(peerOf(servers[2]), late)).toEqual({ sent: 100 })
    expect(await heldBy(servers[1], [...first, ...second], host.peerId)).toBe(200)
    expect(await heldBy(servers[2], [...early, ...late], host.peerId)).toBe(200)
    for (const stats of [host.sender.stats(), patient.stats()]) {
      expect(stats.streamsOpened).toBe(2)
      expect(stats.staleReplaced + stats.reopens).toBe(1)
    }
    console.log(`[idle] default sender ${JSON.stringify(host.sender.stats())}; patient sender ${JSON.stringify(patient.stats())}`)
    await patient.release([peerOf(servers[2])])
  }, 30_000)

  it('a record the server rejects aborts the stream: only checkpointed records count, retries are bounded', async () => {
    const keys = randomProvideKeys(1_200)
    // not a CID: a js server's handler throws, and its stream loop aborts the whole stream
    const poison = new Uint8Array([0x13, 0x20, ...randomBytes(32)])
    keys[1_100] = { multihash: poison, key: kadKeyOf(poison) }
    const before = host.sender.stats()
    const outcome = await host.sender.send(peerOf(servers[3]), keys)
    const after = host.sender.stats()
    console.log(`[poison] outcome ${JSON.stringify(outcome)}; reopens ${after.reopens - before.reopens}, streams ${after.streamsOpened - before.streamsOpened}`)
    // checkpoints every 500 records: the first two chunks were echoed, the third died with the poison
    expect(outcome.sent).toBe(1_000)
    expect(outcome.error).toBeDefined()
    expect(after.reopens - before.reopens).toBe(2)
    expect(after.streamsOpened - before.streamsOpened).toBe(3)
    expect(await heldBy(servers[3], keys.slice(0, 1_000), host.peerId)).toBe(1_000)
  })
})
