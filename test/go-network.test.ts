/**
 * The cluster against go-libp2p-kad-dht servers, what most of Amino runs:
 * a mixed go/js network, go's own findProviders client, and several workers
 * sharing one peer ID toward go servers at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { goFindProviders, gonetBinary } from '@sweep/testnet'
import { goSkipReason } from '../libs/testnet/test/go-available.ts'
import { randomCids } from './helpers.ts'
import { cidOf, ClusterFixture } from './lib/cluster.ts'

const ANNOUNCED = '/ip4/127.0.0.1/tcp/4001'

describe.skipIf(goSkipReason != null)('[go] a cluster providing to a mixed network of 200 go and js servers', () => {
  let fixture: ClusterFixture
  beforeAll(async () => { fixture = await ClusterFixture.start('mixed', 200, 'mixed') }, 240_000)
  afterAll(async () => { await fixture?.stop() })

  it('[go] 10,000 CIDs with 2 workers: recall ≥ 0.98 on go and on js servers; go\'s client finds 49 of 50', async () => {
    const impls = new Set(fixture.testnet.nodes.map((n) => n.impl))
    expect(impls).toEqual(new Set(['js', 'go']))
    const cluster = fixture.cluster({ namespace: 'mixed' })
    await cluster.startCoordinator('coordinator-1')
    await Promise.all([cluster.startWorker('worker-1'), cluster.startWorker('worker-2')])
    const keys = await randomCids(10_000)
    await cluster.provide(keys.map((k) => cidOf(k.multihash)))
    const stats = await cluster.waitForCycle(300_000)
    const provider = stats.workers[0].peerId

    const recall = await fixture.testnet.recall(keys.map((k) => k.multihash), 20, { provider })
    console.log(`mixed network: recall ${recall.mean.toFixed(4)} (go ${recall.byImpl.go?.toFixed(4)}, js ${recall.byImpl.js?.toFixed(4)}), ` +
      `${stats.keys.regions} regions, ${stats.provides.recordsSent} records (${stats.provides.recordsReplaced ?? 0} re-placed); region runs ${JSON.stringify(cluster.runsByReason())}`)
    // every key once to each of its 20 closest is 200k; more means a region ran twice: say which
    if (stats.provides.recordsSent > keys.length * 20 * 1.01) console.log(`per region:\n${cluster.recallByRegion(keys, recall.perKey)}`)
    expect(recall.mean).toBeGreaterThanOrEqual(0.98)
    expect(recall.byImpl.go).toBeGreaterThanOrEqual(0.98)
    expect(recall.byImpl.js).toBeGreaterThanOrEqual(0.98)

    const binary = (await gonetBinary()).path!
    const sample = keys.slice(0, 50).map((k) => cidOf(k.multihash))
    const lookups = await goFindProviders({ binary, bootstrap: fixture.testnet.bootstrap, provider, cids: sample, timeoutMs: 30_000 })
    const found = lookups.filter((l) => l.found && l.addrs.includes(ANNOUNCED))
    console.log(`go findProviders: ${found.length}/50 found with ${ANNOUNCED}; misses: ${JSON.stringify(lookups.filter((l) => !l.found).slice(0, 3))}`)
    expect(new Set(lookups.map((l) => l.cid))).toEqual(new Set(sample))
    expect(found.length).toBeGreaterThanOrEqual(49)
    await cluster.stop()
  }, 420_000)
})

describe.skipIf(goSkipReason != null)('[go] four workers with one identity providing to go servers at once', () => {
  let fixture: ClusterFixture
  beforeAll(async () => { fixture = await ClusterFixture.start('same-id', 150, 'go') }, 240_000)
  afterAll(async () => { await fixture?.stop() })

  it('[go] no record is refused: every record sent is held, recall ≥ 0.98', async () => {
    const cluster = fixture.cluster({ namespace: 'same-id' })
    await cluster.startCoordinator('coordinator-1')
    const names = ['worker-1', 'worker-2', 'worker-3', 'worker-4']
    await Promise.all(names.map((n) => cluster.startWorker(n)))
    // after the schedule's first pass: a catch-up job that starts reading between the keys'
    // storing and their mark sends them, and the region rightly runs again; sent would then
    // count records twice, and this test is about records the servers refuse
    await cluster.waitForCycle()
    const keys = await randomCids(8_000)
    await cluster.provide(keys.map((k) => cidOf(k.multihash)))
    const stats = await cluster.waitForCycle(300_000)
    const provider = stats.workers[0].peerId
    expect(new Set(stats.workers.map((w) => w.peerId))).toEqual(new Set([provider]))

    // the workers really overlapped: some region started on one while another was still running its own
    const runs = cluster.workerLog('region done').map((d) => ({ worker: d.worker, end: Number(d.time), start: Number(d.time) - Number(d.ms) }))
    expect(new Set(runs.map((r) => r.worker)).size).toBe(4)
    const overlapping = runs.some((a) => runs.some((b) => a.worker !== b.worker && a.start < b.end && b.start < a.end))
    expect(overlapping).toBe(true)

    const holders = await fixture.testnet.holdersOfMany(keys.map((k) => k.multihash), provider)
    const held = holders.reduce((sum, h) => sum + h.length, 0)
    const recall = await fixture.testnet.recall(keys.map((k) => k.multihash), 20, { provider })
    // per worker, its host's totals as of its last region
    const hosts = names.map((n) => cluster.workerLog('region done').filter((d) => d.worker === n).at(-1)?.host as Record<string, number> | undefined)
    const total = (field: string) => hosts.reduce((sum, h) => sum + (h?.[field] ?? 0), 0)
    // the true holders that were missed, and how many keys missed each: one server missed by a whole region, or many by a few keys?
    const missed = new Map<string, number>()
    keys.forEach((k, i) => {
      const got = new Set(holders[i])
      for (const server of fixture.testnet.trueClosest(k.multihash, 20, { liveOnly: true })) if (!got.has(server)) missed.set(server, (missed.get(server) ?? 0) + 1)
    })
    console.log(`4 workers, one peer ID, go servers: ${held} records held of ${stats.provides.recordsSent} sent ` +
      `(${stats.provides.regionsFailed} regions failed), recall ${recall.mean.toFixed(4)}; ` +
      `lookups cut ${total('lookupsCut')} of ${total('lookups')}, query errors ${total('queryErrors')}, dial failures ${total('dialFailures')}, ` +
      `failed peers ${total('failedPeers')}; region runs ${JSON.stringify(cluster.runsByReason())}; missed holders ${JSON.stringify([...missed.values()].sort((a, b) => b - a).slice(0, 12))}`)
    if (held < stats.provides.recordsSent * 0.999) {
      console.log(`more records sent than held; provides ${JSON.stringify(stats.provides)}; per region:\n${cluster.recallByRegion(keys, recall.perKey)}\n` +
        `aborted: ${JSON.stringify(cluster.workerLog('region aborted'))}\ncoordinator warnings:\n` +
        cluster.coordinatorWarnings())
    }
    expect(held).toBeGreaterThanOrEqual(stats.provides.recordsSent * 0.999)
    expect(recall.mean).toBeGreaterThanOrEqual(0.98)
    await cluster.stop()
  }, 420_000)
})
