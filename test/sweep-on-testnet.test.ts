import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { join } from 'node:path'
import { createSweepHost, generateIdentity, type SweepHost } from '@sweep/dht'
import { startTestnet, type Testnet } from '@sweep/testnet'
import {
  MemoryKeySource, sampleNetwork, Sweeper, sweepAll, systemClock, type Peer, type ProvideKey, type RecordSender
} from '@sweep/sweep'
import { randomCids, tempDir } from './helpers.ts'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'

const K = 20

/** One full cycle of the unchanged sweep algorithm over the libp2p ports. */
async function sweep(host: SweepHost, keys: readonly ProvideKey[], opts: { prefixes?: (p: string) => boolean; sender?: RecordSender } = {}) {
  const estimate = await sampleNetwork(host.router, K)
  const sweeper = new Sweeper(
    { router: host.router, sender: opts.sender ?? host.sender, keys: new MemoryKeySource(keys), clock: systemClock },
    { networkSize: estimate.size }
  )
  return sweepAll(sweeper, estimate.prefixLength, undefined, opts.prefixes)
}

describe('sweep against 100 real @libp2p/kad-dht servers', () => {
  let testnet: Testnet
  let identityFile: string
  const hosts: SweepHost[] = []
  const newHost = async () => {
    const { loadIdentity } = await import('@sweep/dht')
    const host = await createSweepHost({ privateKey: await loadIdentity(identityFile), bootstrap: testnet.bootstrap })
    hosts.push(host)
    return host
  }

  beforeAll(async () => {
    testnet = await startTestnet({ nodes: 100 })
    identityFile = join(await tempDir('identity'), 'provider.key')
    await generateIdentity(identityFile)
  }, 180_000)

  afterAll(async () => {
    await Promise.all(hosts.map((h) => h.stop()))
    await testnet?.stop()
  })

  it('places 5,000 CIDs on their 20 closest servers, findable with the announced address', async () => {
    const host = await newHost()
    const cids = await randomCids(5000)
    const { totals } = await sweep(host, cids)
    expect(totals.keys).toBe(5000)
    expect(totals.failedRegions).toBe(0)
    const { mean } = await testnet.recall(cids.map((c) => c.multihash), K)
    console.log(`placement recall on 100 servers: ${mean.toFixed(4)}, lookups ${totals.lookups}, records ${totals.recordsSent}`)
    expect(mean).toBeGreaterThanOrEqual(0.98)
    // a separate client that enters the DHT through 20 random servers runs real findProviders lookups
    const entry = [...testnet.nodes].sort(() => Math.random() - 0.5).slice(0, 20).map((n) => `${n.multiaddrs[0]}/p2p/${n.peerId}`)
    const client = await createSweepHost({ privateKey: await generateKeyPair('Ed25519'), bootstrap: entry })
    hosts.push(client)
    const announced = new Set(host.announceAddrs())
    let found = 0
    for (const c of cids.slice(0, 50)) {
      const cid = CID.createV1(0x55, Digest.decode(c.multihash))
      for await (const provider of client.libp2p.contentRouting.findProviders(cid, { signal: AbortSignal.timeout(30_000) })) {
        if (provider.id.toString() === host.peerId && provider.multiaddrs.some((a) => announced.has(a.toString()))) {
          found++
          break
        }
      }
    }
    expect(found).toBe(50)
  }, 300_000)

  it('lets two hosts sharing one identity sweep different regions at once', async () => {
    const [a, b] = [await newHost(), await newHost()]
    expect(a.peerId).toBe(b.peerId)
    const cids = await randomCids(2000)
    const [left, right] = await Promise.all([
      sweep(a, cids, { prefixes: (p) => p.startsWith('0') }),
      sweep(b, cids, { prefixes: (p) => p.startsWith('1') })
    ])
    expect(left.totals.keys + right.totals.keys).toBe(2000)
    expect(left.totals.failedRegions + right.totals.failedRegions).toBe(0)
    const { mean } = await testnet.recall(cids.map((c) => c.multihash), K)
    expect(mean).toBeGreaterThanOrEqual(0.98)
  }, 300_000)

  it('keeps going when a server dies mid-region, and counts the failure', async () => {
    const host = await newHost()
    const cids = await randomCids(3000)
    let victim: Peer | undefined
    const killing: RecordSender = {
      async send(peer, keys) {
        if (!victim) {
          victim = peer
          // the server goes away while its stream is in use
          const outcome = host.sender.send(peer, keys)
          await testnet.stopNodes([peer.id])
          await outcome
          return host.sender.send(peer, keys)
        }
        return host.sender.send(peer, keys)
      },
      release: (peers) => host.sender.release!(peers)
    }
    const { totals } = await sweep(host, cids, { sender: killing })
    expect(victim).toBeDefined()
    expect(totals.peersFailed).toBeGreaterThanOrEqual(1)
    expect(totals.failedRegions).toBe(0)
    const { mean } = await testnet.recall(cids.map((c) => c.multihash), K)
    expect(mean).toBeGreaterThanOrEqual(0.95)
  }, 300_000)
})

describe('sweep with 30% of 100 servers stopped', () => {
  let testnet: Testnet
  let host: SweepHost

  beforeAll(async () => {
    testnet = await startTestnet({ nodes: 100 })
    const ids = testnet.nodes.map((n) => n.peerId)
    const bootstrapIds = new Set(testnet.bootstrap.map((a) => a.split('/p2p/')[1]))
    await testnet.stopNodes(ids.filter((id) => !bootstrapIds.has(id)).slice(0, 30))
    const file = join(await tempDir('identity'), 'provider.key')
    host = await createSweepHost({ privateKey: await generateIdentity(file), bootstrap: testnet.bootstrap })
  }, 180_000)

  afterAll(async () => {
    await host?.stop()
    await testnet?.stop()
  })

  it('still succeeds in every region, with recall ≥ 0.95 against the live servers', async () => {
    const cids = await randomCids(3000)
    const { totals } = await sweep(host, cids)
    expect(totals.failedRegions).toBe(0)
    const { mean } = await testnet.recall(cids.map((c) => c.multihash), K)
    console.log(`recall with 30% stopped: ${mean.toFixed(4)}`)
    expect(mean).toBeGreaterThanOrEqual(0.95)
  }, 300_000)
})
