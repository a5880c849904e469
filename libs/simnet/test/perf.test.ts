import { kadKeyOf } from '@sweep/keyspace'
import { describe, expect, it } from 'vitest'
import { Prng } from '../src/prng.ts'
import { SimKeySet } from '../src/sim-key-set.ts'
import { SimNetwork } from '../src/sim-network.ts'

/**
 * Measurements, printed rather than asserted (timings depend on the machine).
 * Opt in with SIMNET_PERF=1: they take tens of seconds.
 */
describe.runIf(process.env.SIMNET_PERF)('simnet performance', () => {
  const ms = (since: number) => `${(performance.now() - since).toFixed(0)} ms`

  it('builds a 25,000-server network and runs 1,000 lookups on it', async () => {
    let t = performance.now()
    const network = SimNetwork.create({ servers: 25_000, seed: 1 })
    console.log(`[simnet perf] create 25,000 servers: ${ms(t)}, ${network.totalContacts} contacts (${(network.totalContacts / 25_000).toFixed(0)}/server)`)
    const host = network.createHost()
    const prng = new Prng(2)
    let exact = 0
    t = performance.now()
    await network.clock.run(async () => {
      for (let i = 0; i < 1000; i++) {
        const preimage = prng.bytes(16)
        const found = await host.getClosestPeers(preimage)
        const truth = network.trueClosest(kadKeyOf(preimage), 20)
        if (found.map((p) => p.id).join() === truth.map((j) => network.peer(j).id).join()) exact++
      }
    })
    const stats = host.stats()
    console.log(`[simnet perf] 1,000 lookups on 25,000 servers: ${ms(t)}, exact ${exact}/1000, ${(stats.rpcs / 1000).toFixed(1)} RPCs/lookup, ` +
      `${(network.clock.now() / 1000).toFixed(0)} virtual ms/lookup`)
    expect(stats.lookups).toBe(1000)
  })

  it('generates 1,000,000 keys', () => {
    const t = performance.now()
    const set = SimKeySet.generate(1_000_000, 1)
    console.log(`[simnet perf] SimKeySet.generate(1,000,000): ${ms(t)}`)
    expect(set.size).toBe(1_000_000)
  })
})
