import { kadKeyOf } from '@sweep/keyspace'
import { describe, expect, it } from 'vitest'
import { Prng } from '../src/prng.ts'
import { SimNetwork } from '../src/sim-network.ts'

// Timings live in the benchmarks (bench/seed-table.ts); this checks the 25k-server
// network the benchmarks rely on is a sound Kademlia network.
describe('a 25,000-server network', () => {
  it('builds realistic routing tables and answers lookups exactly', async () => {
    const network = SimNetwork.create({ servers: 25_000, seed: 1 })
    const perServer = network.totalContacts / 25_000
    // ≈ 20 per bucket for log2(25000/20) ≈ 10 full buckets, plus the sparse deep ones
    expect(perServer).toBeGreaterThan(180)
    expect(perServer).toBeLessThan(300)
    const host = network.createHost()
    const prng = new Prng(2)
    let exact = 0
    const lookups = 300
    await network.clock.run(async () => {
      for (let i = 0; i < lookups; i++) {
        const preimage = prng.bytes(16)
        const found = await host.getClosestPeers(preimage)
        const truth = network.trueClosest(kadKeyOf(preimage), 20)
        if (found.map((p) => p.id).join() === truth.map((j) => network.peer(j).id).join()) exact++
      }
    })
    expect(exact / lookups).toBeGreaterThanOrEqual(0.99)
    const rpcsPerLookup = host.stats().rpcs / lookups
    expect(rpcsPerLookup).toBeGreaterThan(10)
    expect(rpcsPerLookup).toBeLessThan(60)
  })
})
