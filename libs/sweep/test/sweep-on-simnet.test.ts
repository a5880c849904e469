import { describe, expect, it } from 'vitest'
import { kadKeyOf } from '@sweep/keyspace'
import { placementOf, SimKeySet, SimNetwork, type SimHostOptions, type SimNetworkOptions } from '@sweep/simnet'
import {
  Delivery, provideOneByOne, sampleNetwork, Sweeper, sweepAll, type ClosestPeersRouter, type KeySource, type ProvideKey, type RecordSender, type SweepConfig
} from '@sweep/sweep'

const K = 20

interface CycleRun {
  network: SimNetwork
  keys: SimKeySet
  totals: Awaited<ReturnType<typeof sweepAll>>['totals']
  reports: Awaited<ReturnType<typeof sweepAll>>['reports']
  stats: ReturnType<ReturnType<SimNetwork['createHost']>['stats']>
  estimate: Awaited<ReturnType<typeof sampleNetwork>>
}

async function runCycle(
  net: SimNetworkOptions,
  cids: number,
  opts: {
    host?: SimHostOptions
    sweep?: Partial<SweepConfig>
    wrapKeys?: (k: KeySource) => KeySource
    wrapSender?: (network: SimNetwork, s: RecordSender) => RecordSender
    wrapRouter?: (network: SimNetwork, r: ClosestPeersRouter) => ClosestPeersRouter
    deeper?: number
    /** Sweep regions of this prefix length instead of the estimate's. */
    regionBits?: number
  } = {}
): Promise<CycleRun> {
  const network = SimNetwork.create(net)
  const host = network.createHost(opts.host)
  const keys = SimKeySet.generate(cids, net.seed + 100)
  const source = opts.wrapKeys ? opts.wrapKeys(keys) : keys
  const sender = opts.wrapSender ? opts.wrapSender(network, host) : host
  return network.clock.run(async () => {
    const estimate = await sampleNetwork(host, K)
    const router = opts.wrapRouter ? opts.wrapRouter(network, host) : host
    const sweeper = new Sweeper({ router, sender, keys: source, clock: network.clock }, { networkSize: estimate.size, ...opts.sweep })
    const { totals, reports } = await sweepAll(sweeper, opts.regionBits ?? estimate.prefixLength + (opts.deeper ?? 0))
    return { network, keys, totals, reports, stats: host.stats(), estimate }
  })
}

/** About `share` of 0..size-1, spread by a fixed stride so the choice is reproducible. */
function pickEvery(size: number, share: number, seed: number): number[] {
  return Array.from({ length: size }, (_, i) => i).filter((i) => ((i * 2654435761 + seed) >>> 0) % 1000 < share * 1000)
}

/** Per key: do its recipients equal its true k closest (live) servers, with no duplicate? */
function placement(run: CycleRun): { exact: number; duplicates: number; recall: number } {
  let exact = 0
  let duplicates = 0
  let hits = 0
  for (let i = 0; i < run.keys.size; i++) {
    const placement = placementOf(run.network, run.keys.at(i).key, K)
    if (placement.duplicated) duplicates++
    if (placement.exact) exact++
    hits += placement.hits
  }
  return { exact, duplicates, recall: hits / (run.keys.size * K) }
}

describe('one full sweep cycle on simnet', () => {
  it('puts every key on exactly its k closest servers, once, with few lookups', async () => {
    const servers = 2000
    const run = await runCycle({ servers, seed: 7 }, 6000)
    const p = placement(run)
    expect(p.exact).toBe(6000)
    expect(p.duplicates).toBe(0)
    expect(run.stats.messagesSent).toBe(K * 6000)
    expect(run.network.delivery.totalReceived).toBe(K * 6000)
    expect(run.totals.recordsSent).toBe(K * 6000)
    expect(run.totals.recordsFailed).toBe(0)
    expect(run.totals.failedRegions).toBe(0)
    // the bound is 2 × servers/k; the benchmark aims for ≤ 1.5
    expect(run.stats.lookups).toBeLessThanOrEqual(2 * (servers / K))
    // each server is dialled about once for its records, lookups mostly reuse those connections
    expect(run.stats.connectionsOpened).toBeLessThanOrEqual(1.3 * servers)
    expect(run.reports.every((r) => r.mode !== 'sweep' || r.complete)).toBe(true)
  })

  it('reports regions that hold ≥ k peers and cover the prefix they were found under', async () => {
    // one bit deeper than estimated, so some prefixes hold fewer than k peers
    const run = await runCycle({ servers: 1500, seed: 11 }, 3000, { deeper: 1 })
    const swept = run.reports.filter((r) => r.mode === 'sweep')
    expect(swept.length).toBeGreaterThan(0)
    for (const r of swept) {
      expect(r.peerPrefix.length).toBeLessThanOrEqual(r.prefix.length)
      expect(r.prefix.startsWith(r.peerPrefix)).toBe(true)
      for (const region of r.regions) {
        expect(region.peers).toBeGreaterThanOrEqual(K)
        expect(region.prefix.startsWith(r.peerPrefix)).toBe(true)
      }
    }
    // prefixes too small to hold k peers borrow their parent's peers instead of dropping keys
    const widened = swept.filter((r) => r.peerPrefix !== r.prefix)
    expect(widened.length).toBeGreaterThan(0)
    expect(placement(run).exact).toBe(3000)
  })

  it('streams keys in batches no larger than batchSize and still places them exactly', async () => {
    let largest = 0
    let batches = 0
    const wrapKeys = (inner: KeySource): KeySource => ({
      async *keys(prefix, batchSize) {
        for await (const batch of inner.keys(prefix, batchSize)) {
          largest = Math.max(largest, batch.length)
          batches++
          yield batch
        }
      }
    })
    const run = await runCycle({ servers: 1000, seed: 3 }, 4000, { sweep: { batchSize: 16 }, wrapKeys })
    expect(largest).toBeLessThanOrEqual(16)
    expect(batches).toBeGreaterThan(4000 / 16)
    expect(placement(run).exact).toBe(4000)
  })

  it('gives regions with a handful of keys one lookup per key instead of an exploration', async () => {
    const run = await runCycle({ servers: 2000, seed: 5 }, 40)
    const plain = run.reports.filter((r) => r.mode === 'plain')
    const empty = run.reports.filter((r) => r.mode === 'empty')
    expect(plain.length).toBeGreaterThan(0)
    expect(empty.length).toBeGreaterThan(0)
    expect(empty.every((r) => r.lookups === 0 && r.keys === 0)).toBe(true)
    for (const r of plain) expect(r.lookups).toBe(r.keys)
    expect(placement(run).exact).toBe(40)
    // 40 keys cost about 40 lookups (plus the estimate), not one exploration per region
    expect(run.stats.lookups).toBeLessThanOrEqual(40 + run.estimate.lookups + 10)
  })

  it('still reaches the closest reachable servers with 30% of servers unreachable, and counts the failures', async () => {
    const run = await runCycle({ servers: 2000, seed: 9, unreachableFraction: 0.3 }, 3000)
    const p = placement(run)
    // lookups through stale routing tables miss a few live servers (see simnet's lookup test)
    console.log(`30% unreachable: placement recall ${p.recall.toFixed(4)}, exact keys ${p.exact}/3000`)
    expect(p.recall).toBeGreaterThanOrEqual(0.965)
    expect(p.duplicates).toBe(0)
    expect(run.stats.rpcTimeouts).toBeGreaterThan(0)
    for (let i = 0; i < run.keys.size; i++) {
      for (const s of run.network.delivery.recipientsOf(run.keys.at(i).key)) expect(run.network.isReachable(s)).toBe(true)
    }
    expect(run.totals.failedRegions).toBe(0)
  })

  it('abandons peers whose sends keep failing, counts them, and judges regions by the 20% rule', async () => {
    const run = await runCycle({ servers: 1000, seed: 13 }, 3000, { host: { sendFailureRate: 0.5 }, sweep: { sendAttempts: 1 } })
    expect(run.totals.peersFailed).toBeGreaterThan(0)
    expect(run.totals.recordsFailed).toBeGreaterThan(0)
    // every record is sent or failed once, and each re-placement adds one record
    expect(run.totals.recordsSent + run.totals.recordsFailed).toBe(K * 3000 + run.totals.recordsReplaced)
    expect(run.stats.messagesSent).toBe(run.totals.recordsSent)
    for (const r of run.reports.filter((x) => x.mode === 'sweep')) {
      const targeted = r.peersReached + r.peersFailed
      expect(r.succeeded).toBe(r.peersReached >= 0.2 * targeted)
    }
  })

  it('re-places the keys of servers that die mid-region onto the next closest live servers', async () => {
    const killOnFirstSend = (network: SimNetwork, host: RecordSender): RecordSender => {
      let killed = false
      return {
        send: async (peer, keys) => {
          if (!killed) {
            killed = true
            const doomed = pickEvery(network.size, 0.3, 17)
            for (const i of doomed) network.setReachable(i, false)
          }
          return host.send(peer, keys)
        }
      }
    }
    // one region, the whole keyspace: every key's peers are explored before any dies
    const withReplacing = await runCycle({ servers: 300, seed: 17 }, 3000, { wrapSender: killOnFirstSend, regionBits: 0 })
    const without = await runCycle({ servers: 300, seed: 17 }, 3000, { wrapSender: killOnFirstSend, regionBits: 0, sweep: { replaceRounds: 0 } })
    const replaced = placement(withReplacing).recall
    const notReplaced = placement(without).recall
    console.log(`30% of servers die at the first send: recall ${replaced.toFixed(4)} with re-placement, ${notReplaced.toFixed(4)} without; ` +
      `${withReplacing.totals.recordsReplaced} records re-placed`)
    expect(replaced).toBeGreaterThanOrEqual(0.98)
    expect(notReplaced).toBeLessThan(0.9)
    expect(withReplacing.totals.recordsReplaced).toBeGreaterThan(0)
    expect(without.totals.recordsReplaced).toBe(0)
  })

  it('widens past a region whose failed peers leave fewer than k live, to the next closest live servers outside it', async () => {
    // answers that name silent servers too, as a host too loaded to trust its timeouts gives them:
    // a region's pool then counts peers that fail on the first send
    const namesSilent = (network: SimNetwork, router: ClosestPeersRouter): ClosestPeersRouter => ({
      getClosestPeers: async (preimage, options) => {
        const silent = network.trueClosest(kadKeyOf(preimage), K, { liveOnly: false }).filter((i) => !network.isReachable(i))
        return [...await router.getClosestPeers(preimage, options), ...silent.map((i) => network.peer(i))]
      }
    })
    const run = await runCycle({ servers: 1000, seed: 23, unreachableFraction: 0.3 }, 3000, { wrapRouter: namesSilent })
    const p = placement(run)
    const widened = run.reports.filter((r) => r.peerPrefix.length < r.prefix.length).length
    console.log(`30% silent servers in every answer: recall ${p.recall.toFixed(4)}, ${widened} of ${run.reports.length} regions widened, ` +
      `${run.totals.recordsReplaced} records re-placed`)
    expect(p.recall).toBeGreaterThanOrEqual(0.98)
    expect(widened).toBeGreaterThan(0)
    expect(p.duplicates).toBe(0)
  })

  it('is deterministic: the same seed gives the same cycle', async () => {
    const a = await runCycle({ servers: 800, seed: 21 }, 1500)
    const b = await runCycle({ servers: 800, seed: 21 }, 1500)
    expect(b.totals).toEqual(a.totals)
    expect(b.stats).toEqual(a.stats)
  })
})

describe('network size estimate', () => {
  it('lands within 30% of the true size', async () => {
    for (const servers of [1000, 5000]) {
      const network = SimNetwork.create({ servers, seed: servers })
      const host = network.createHost()
      const estimate = await network.clock.run(() => sampleNetwork(host, K, 8))
      expect(estimate.size / servers).toBeGreaterThan(0.7)
      expect(estimate.size / servers).toBeLessThan(1.3)
      expect(estimate.prefixLength).toBe(Math.floor(Math.log2(estimate.size / K)))
    }
  })
})

describe('the sweep against one lookup per key', () => {
  it('uses far fewer lookups and connections for the same placement', async () => {
    const servers = 2000
    const network = SimNetwork.create({ servers, seed: 17 })
    const keys = SimKeySet.generate(5000, 99)
    const sample: ProvideKey[] = Array.from({ length: 200 }, (_, i) => keys.at(i * 25))
    const plainHost = network.createHost({ seed: 1 })
    await network.clock.run(() => provideOneByOne({ router: plainHost, clock: network.clock }, sample, new Delivery(plainHost, { concurrency: 16, attempts: 2 }), K))
    for (const key of sample) expect(new Set(network.delivery.recipientsOf(key.key))).toEqual(new Set(network.trueClosest(key.key, K)))
    const perKey = plainHost.stats()
    expect(perKey.lookups).toBe(200)

    network.delivery.clear()
    const sweepHost = network.createHost({ seed: 2 })
    await network.clock.run(async () => {
      const estimate = await sampleNetwork(sweepHost, K)
      await sweepAll(new Sweeper({ router: sweepHost, sender: sweepHost, keys, clock: network.clock }, { networkSize: estimate.size }), estimate.prefixLength)
    })
    const swept = sweepHost.stats()
    const lookupsPerKey = { plain: perKey.lookups / 200, sweep: swept.lookups / 5000 }
    const connectionsPerKey = { plain: perKey.connectionsOpened / 200, sweep: swept.connectionsOpened / 5000 }
    expect(lookupsPerKey.plain / lookupsPerKey.sweep).toBeGreaterThan(10)
    expect(connectionsPerKey.plain / connectionsPerKey.sweep).toBeGreaterThan(10)
  })
})
