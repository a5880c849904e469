import { kadKeyOf } from '@sweep/keyspace'
import { describe, expect, it } from 'vitest'
import { Prng } from '../src/prng.ts'
import { SimNetwork } from '../src/sim-network.ts'

interface LookupRun {
  exact: number
  overlap: number
  ids: string[][]
  lookups: number
  stats: ReturnType<ReturnType<SimNetwork['createHost']>['stats']>
  virtualMs: number
}

/** Runs `targets` lookups one after the other and compares each with global knowledge. */
async function runLookups(network: SimNetwork, targets: number, targetSeed: number): Promise<LookupRun> {
  const host = network.createHost()
  const prng = new Prng(targetSeed)
  let exact = 0
  let overlap = 0
  const ids: string[][] = []
  const start = network.clock.now()
  await network.clock.run(async () => {
    for (let t = 0; t < targets; t++) {
      const preimage = prng.bytes(16)
      const found = await host.getClosestPeers(preimage)
      const truth = network.trueClosest(kadKeyOf(preimage), 20).map((i) => network.peer(i).id)
      const foundIds = found.map((p) => p.id)
      ids.push(foundIds)
      if (foundIds.join() === truth.join()) exact++
      overlap += foundIds.filter((id) => truth.includes(id)).length / truth.length
    }
  })
  return { exact, overlap: overlap / targets, ids, lookups: targets, stats: host.stats(), virtualMs: network.clock.now() - start }
}

describe('SimHost.getClosestPeers', () => {
  it('finds exactly the true 20 closest on a converged 2,000-server network', async () => {
    const network = SimNetwork.create({ servers: 2000, seed: 21 })
    const run = await runLookups(network, 300, 1)
    const rpcsPerLookup = run.stats.rpcs / run.lookups
    console.log(`[simnet] 2,000 servers, 300 lookups: exact ${run.exact}/300, ${rpcsPerLookup.toFixed(1)} RPCs/lookup, ` +
      `${(run.stats.connectionsOpened / run.lookups).toFixed(1)} new connections/lookup, ${(run.virtualMs / run.lookups).toFixed(0)} virtual ms/lookup`)
    expect(run.exact / run.lookups).toBeGreaterThanOrEqual(0.99)
    expect(run.stats.lookups).toBe(300)
    expect(run.stats.rpcTimeouts).toBe(0)
    // At least the k closest are queried; a walk that queried hundreds would be broken.
    expect(rpcsPerLookup).toBeGreaterThanOrEqual(20)
    expect(rpcsPerLookup).toBeLessThan(60)
    expect(run.stats.connectionsOpened).toBeLessThanOrEqual(run.stats.rpcs)
  })

  it('returns only live servers under 30% unreachable, mostly the true closest live ones, and counts timeouts', async () => {
    const network = SimNetwork.create({ servers: 2000, seed: 22, unreachableFraction: 0.3 })
    const run = await runLookups(network, 200, 2)
    console.log(`[simnet] 2,000 servers, 30% unreachable, 200 lookups: exact ${run.exact}/200, mean overlap ${(run.overlap * 100).toFixed(1)}%, ` +
      `${(run.stats.rpcs / run.lookups).toFixed(1)} RPCs/lookup, ${(run.stats.rpcTimeouts / run.lookups).toFixed(1)} timeouts/lookup, ` +
      `${(run.virtualMs / run.lookups).toFixed(0)} virtual ms/lookup`)
    for (const ids of run.ids) {
      // Answers carry 20 contacts, ~30% of them dead, so a walk can see fewer than 20 live
      // servers near the target: a real effect of stale tables (bucketSize 40 recovers 100%).
      expect(ids.length).toBeGreaterThanOrEqual(15)
      expect(ids.length).toBeLessThanOrEqual(20)
      for (const id of ids) expect(network.isReachable(network.indexOf(id)!)).toBe(true)
    }
    expect(run.ids.reduce((n, ids) => n + ids.length, 0) / run.lookups).toBeGreaterThan(19.5)
    expect(run.overlap).toBeGreaterThan(0.9)
    expect(run.stats.rpcTimeouts).toBeGreaterThan(0)
    expect(run.stats.rpcTimeouts).toBeLessThan(run.stats.rpcs)
    // Each timeout costs the 5 s dial timeout, so lookups take far longer in virtual time.
    expect(run.virtualMs / run.lookups).toBeGreaterThan(5000)
  })

  it('gives identical results and stats for the same seeds, and different ones for another network seed', async () => {
    const once = async (seed: number) => runLookups(SimNetwork.create({ servers: 1000, seed, unreachableFraction: 0.1 }), 40, 3)
    const [a, b, c] = [await once(30), await once(30), await once(31)]
    expect(a.ids).toEqual(b.ids)
    expect(a.stats).toEqual(b.stats)
    expect(a.virtualMs).toBe(b.virtualMs)
    expect(a.ids).not.toEqual(c.ids)
  })

  it('returns the closest found, closest first, when fewer than k servers exist', async () => {
    const network = SimNetwork.create({ servers: 12, seed: 5 })
    const host = network.createHost()
    const found = await network.clock.run(() => host.getClosestPeers(new Uint8Array([9])))
    expect(found.map((p) => p.id)).toEqual(network.trueClosest(kadKeyOf(new Uint8Array([9])), 20).map((i) => network.peer(i).id))
    expect(found).toHaveLength(12)
  })

  it('overlaps parallel lookups in virtual time', async () => {
    const network = SimNetwork.create({ servers: 1000, seed: 6 })
    const host = network.createHost()
    const one = await network.clock.run(async () => {
      const t0 = network.clock.now()
      await host.getClosestPeers(new Uint8Array([1]))
      return network.clock.now() - t0
    })
    const t0 = network.clock.now()
    await network.clock.run(() => Promise.all(Array.from({ length: 10 }, (_, i) => host.getClosestPeers(new Uint8Array([2, i])))))
    expect(network.clock.now() - t0).toBeLessThan(one * 3)
  })
})
