/**
 * The inspector against a real client: provider records that a stock
 * kad-dht client stores must show up on (nearly) the true closest servers,
 * with the client's identity and address, and recall must agree.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestnet, type Testnet } from '../src/index.ts'
import { randomCids, startClient, transportAddrs, type Client } from './client.ts'
import type { CID } from 'multiformats/cid'

const K = 20

describe('provider records from a real client', () => {
  let net: Testnet
  let client: Client
  let cids: CID[]

  beforeAll(async () => {
    net = await startTestnet({ nodes: 40, processes: 2 })
    client = await startClient(net.bootstrap)
    cids = await randomCids(4)
    await Promise.all(cids.map(async (cid) => provideUntilHeld(cid)))
  })

  /**
   * These tests check the inspector, not the stock client, whose one lookup on
   * a loaded 2-core machine now and then ends before it meets all the closest
   * servers (13 of 20 once in CI). So a short provide is repeated, as a real
   * client re-provides; three tries, and the assertions below still demand 15.
   */
  async function provideUntilHeld(cid: CID): Promise<void> {
    const closest = () => net.trueClosest(cid.multihash.bytes, K, { liveOnly: true })
    for (let attempt = 1; attempt <= 3; attempt++) {
      await client.contentRouting.provide(cid)
      const held = await net.providersOf(cid.multihash.bytes)
      if (closest().filter((server) => held.has(server)).length >= 15) return
    }
  }

  afterAll(async () => {
    await client?.stop()
    await net?.stop()
  })

  it('lands on at least 15 of the true 20 closest servers, with the client id and address', async () => {
    const id = client.peerId.toString()
    const addrs = transportAddrs(client)
    for (const cid of cids) {
      const mh = cid.multihash.bytes
      const held = await net.providersOf(mh)
      const closest = net.trueClosest(mh, K, { liveOnly: true })
      const good = closest.filter((server) => {
        const records = held.get(server) ?? []
        return records.some((r) => r.id === id && r.addrs.some((a) => addrs.includes(a)))
      })
      expect(good.length, `${cid}: ${good.length} of the true ${K} closest hold a correct record`).toBeGreaterThanOrEqual(15)
      // only our client provided, so no server should hold anything else
      for (const records of held.values()) expect(records.map((r) => r.id)).toEqual([id])
    }
  })

  it('reports nothing for a multihash nobody provided', async () => {
    const [other] = await randomCids(1)
    expect((await net.providersOf(other.multihash.bytes)).size).toBe(0)
    expect(await net.holdersOfMany([other.multihash.bytes])).toEqual([[]])
    expect(await net.findProvidersFromServers([other.multihash.bytes])).toEqual([[]])
  })

  it('finds the client as provider at the true closest servers, with its address', async () => {
    const found = await net.findProvidersFromServers(cids.map((c) => c.multihash.bytes), K)
    expect(found).toHaveLength(cids.length)
    for (const records of found) {
      expect(records.map((r) => r.id)).toEqual([client.peerId.toString()])
      expect(records[0].addrs.some((a) => transportAddrs(client).includes(a))).toBe(true)
    }
  })

  it('holdersOfMany agrees with providersOf, and recall with both', async () => {
    const mhs = cids.map((c) => c.multihash.bytes)
    const holders = await net.holdersOfMany(mhs)
    const { mean, perKey } = await net.recall(mhs)
    for (let i = 0; i < mhs.length; i++) {
      const viaProviders = [...(await net.providersOf(mhs[i])).keys()].sort()
      expect([...holders[i]].sort()).toEqual(viaProviders)
      const closest = new Set(net.trueClosest(mhs[i], K, { liveOnly: true }))
      expect(perKey[i]).toBeCloseTo(viaProviders.filter((s) => closest.has(s)).length / K, 10)
      expect(perKey[i]).toBeGreaterThanOrEqual(15 / K)
    }
    expect(mean).toBeCloseTo(perKey.reduce((a, b) => a + b, 0) / perKey.length, 10)
  })

  it('answers holdersOfMany for 20,000 multihashes in a few seconds', async () => {
    const many = [...cids.map((c) => c.multihash.bytes), ...(await randomCids(20_000 - cids.length)).map((c) => c.multihash.bytes)]
    const t0 = performance.now()
    const holders = await net.holdersOfMany(many)
    const ms = performance.now() - t0
    console.log(`holdersOfMany(20000) took ${Math.round(ms)} ms`)
    expect(holders).toHaveLength(20_000)
    expect(holders.slice(cids.length).every((h) => h.length === 0)).toBe(true)
    expect(holders.slice(0, cids.length).every((h) => h.length >= 15)).toBe(true)
    expect(ms).toBeLessThan(5_000)
  })
})
