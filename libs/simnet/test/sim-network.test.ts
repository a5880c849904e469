import { commonPrefixLength, compareDistance, compareKeys, kadKeyOf } from '@sweep/keyspace'
import { describe, expect, it } from 'vitest'
import { Prng } from '../src/prng.ts'
import { SimNetwork } from '../src/sim-network.ts'

function allTables(network: SimNetwork): number[][] {
  return Array.from({ length: network.size }, (_, i) => [...network.routingTable(i)])
}

describe('SimNetwork construction', () => {
  it('is deterministic per seed: keys, routing tables, reachability and RTTs', () => {
    const a = SimNetwork.create({ servers: 300, seed: 9, unreachableFraction: 0.2 })
    const b = SimNetwork.create({ servers: 300, seed: 9, unreachableFraction: 0.2 })
    const c = SimNetwork.create({ servers: 300, seed: 10, unreachableFraction: 0.2 })
    const keys = (n: SimNetwork) => Array.from({ length: n.size }, (_, i) => Buffer.from(n.peer(i).key).toString('hex'))
    const live = (n: SimNetwork) => Array.from({ length: n.size }, (_, i) => n.isReachable(i))
    const rtts = (n: SimNetwork) => Array.from({ length: n.size }, (_, i) => n.rttMs(i))
    expect(keys(a)).toEqual(keys(b))
    expect(allTables(a)).toEqual(allTables(b))
    expect(live(a)).toEqual(live(b))
    expect(rtts(a)).toEqual(rtts(b))
    expect(keys(a)).not.toEqual(keys(c))
    expect(allTables(a)).not.toEqual(allTables(c))
  })

  it('orders servers by key and names them by position', () => {
    const network = SimNetwork.create({ servers: 500, seed: 1 })
    for (let i = 1; i < network.size; i++) expect(compareKeys(network.peer(i - 1).key, network.peer(i).key)).toBeLessThan(0)
    expect(network.peer(17).id).toBe('s17')
    expect(network.indexOf('s17')).toBe(17)
    expect(network.indexOf(network.peer(3))).toBe(3)
    expect(network.indexOf('nobody')).toBeUndefined()
  })

  it('fills each bucket with min(bucketSize, servers at that common prefix length) distinct servers', () => {
    const bucketSize = 8
    const network = SimNetwork.create({ servers: 400, seed: 2, bucketSize })
    for (let s = 0; s < network.size; s += 7) {
      const self = network.peer(s).key
      const population = new Map<number, number>()
      for (let j = 0; j < network.size; j++) {
        if (j === s) continue
        const cpl = commonPrefixLength(self, network.peer(j).key)
        population.set(cpl, (population.get(cpl) ?? 0) + 1)
      }
      const table = [...network.routingTable(s)]
      expect(new Set(table).size).toBe(table.length)
      expect(table).not.toContain(s)
      const filled = new Map<number, number>()
      for (const j of table) {
        const cpl = commonPrefixLength(self, network.peer(j).key)
        filled.set(cpl, (filled.get(cpl) ?? 0) + 1)
      }
      for (const [cpl, count] of population) expect(filled.get(cpl) ?? 0).toBe(Math.min(bucketSize, count))
      expect([...filled.keys()].every((cpl) => population.has(cpl))).toBe(true)
    }
  })

  it('builds tables of realistic size: about bucketSize × log2(servers / bucketSize) contacts', () => {
    const network = SimNetwork.create({ servers: 2000, seed: 3 })
    const mean = network.totalContacts / network.size
    expect(mean).toBeGreaterThan(20 * Math.log2(2000 / 20))
    expect(mean).toBeLessThan(20 * (Math.log2(2000 / 20) + 4))
  })

  it('marks exactly round(fraction × servers) unreachable, and lets tests flip reachability', () => {
    const network = SimNetwork.create({ servers: 1000, seed: 4, unreachableFraction: 0.3 })
    expect(network.reachableCount).toBe(700)
    const down = Array.from({ length: 1000 }, (_, i) => i).find((i) => !network.isReachable(i))!
    network.setReachable(down, true)
    expect(network.isReachable(down)).toBe(true)
    expect(network.reachableCount).toBe(701)
  })

  it('draws RTTs within the configured range', () => {
    const network = SimNetwork.create({ servers: 1000, seed: 5, latency: { minRttMs: 30, maxRttMs: 40 } })
    const rtts = Array.from({ length: 1000 }, (_, i) => network.rttMs(i))
    expect(Math.min(...rtts)).toBe(30)
    expect(Math.max(...rtts)).toBe(40)
    expect(rtts.every(Number.isInteger)).toBe(true)
  })
})

describe('SimNetwork.trueClosest', () => {
  const network = SimNetwork.create({ servers: 3000, seed: 6, unreachableFraction: 0.25 })
  const bruteForce = (target: Uint8Array, k: number, liveOnly: boolean) =>
    Array.from({ length: network.size }, (_, i) => i)
      .filter((i) => !liveOnly || network.isReachable(i))
      .sort((a, b) => compareDistance(target, network.peer(a).key, network.peer(b).key))
      .slice(0, k)

  it('matches a brute-force sort over every server, live only or not, for several k', () => {
    const prng = new Prng(11)
    for (let t = 0; t < 60; t++) {
      const target = kadKeyOf(prng.bytes(32))
      for (const k of [1, 20, 57]) {
        expect(network.trueClosest(target, k)).toEqual(bruteForce(target, k, true))
        expect(network.trueClosest(target, k, { liveOnly: false })).toEqual(bruteForce(target, k, false))
      }
    }
  })

  it('finds a server itself first when targeting its key, and returns everyone when k exceeds the network', () => {
    expect(network.trueClosest(network.peer(123).key, 5, { liveOnly: false })[0]).toBe(123)
    const small = SimNetwork.create({ servers: 10, seed: 1 })
    expect(small.trueClosest(new Uint8Array(32), 20).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
  })

  it('follows setReachable', () => {
    const target = kadKeyOf(new Uint8Array([1, 2, 3]))
    const first = network.trueClosest(target, 1)[0]
    network.setReachable(first, false)
    expect(network.trueClosest(target, 20)).not.toContain(first)
    expect(network.trueClosest(target, 20)).toEqual(bruteForce(target, 20, true))
    network.setReachable(first, true)
    expect(network.trueClosest(target, 1)).toEqual([first])
  })
})
