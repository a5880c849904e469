/**
 * The cluster on the network users have: silent servers that hold every lookup
 * and dial they meet, servers that die while a provide runs, and a region that
 * loses a large share of its holders at once. Real coordinator and worker
 * processes, a mixed network of unmodified go and js servers. One testnet
 * serves the deaths: each test takes down more of it, so they run in order. The
 * silent servers get a network of their own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { peerIdFromString } from '@libp2p/peer-id'
import { kadKeyOf, keyHasPrefix } from '@sweep/keyspace'
import { goSkipReason } from '../libs/testnet/test/go-available.ts'
import { randomCids } from './helpers.ts'
import { cidOf, ClusterFixture, type TestCluster } from './lib/cluster.ts'
import { waitUntil } from './lib/processes.ts'

const RESWEEP_DELAY_MS = 5000

async function startCluster(fixture: ClusterFixture, namespace: string, workers: number, extra: { jobTimeout?: string } = {}): Promise<TestCluster> {
  const cluster = fixture.cluster({ namespace, resweepDelay: `${RESWEEP_DELAY_MS}ms`, ...extra })
  await cluster.startCoordinator('coordinator-1')
  await Promise.all(Array.from({ length: workers }, (_, i) => cluster.startWorker(`worker-${i + 1}`)))
  return cluster
}

const sum = (lines: ReadonlyArray<Record<string, unknown>>, field: string): number => lines.reduce((n, l) => n + Number(l[field] ?? 0), 0)

describe.skipIf(goSkipReason != null)('[go] a cluster on a mixed network of 200 servers that fail', () => {
  let fixture: ClusterFixture
  beforeAll(async () => { fixture = await ClusterFixture.start('faults', 200, 'mixed') }, 240_000)
  afterAll(async () => { await fixture?.stop() })

  it('[go] a region that loses 40% of its holders is swept again within the delay, and its keys reach the new closest servers', async () => {
    const { testnet } = fixture
    const cluster = await startCluster(fixture, 'mass-failure', 1)
    const keys = await randomCids(4000)
    await cluster.provide(keys.map((k) => cidOf(k.multihash)))
    const { workers: [{ peerId: provider }] } = await cluster.waitForCycle(300_000)
    // the scheduled region holding most of a sample of the keys: kill 40% of the servers inside it
    const regionsOfSample = await Promise.all(keys.slice(0, 40).map(async (k) => (await cluster.api<{ region: string }>(`/v1/cids/${cidOf(k.multihash)}`)).body.region))
    const tally = new Map<string, number>()
    for (const r of regionsOfSample) tally.set(r, (tally.get(r) ?? 0) + 1)
    const region = [...tally].reduce((a, b) => (b[1] > a[1] ? b : a))[0]
    const inside = testnet.nodes.map((n) => n.peerId)
      .filter((id) => keyHasPrefix(kadKeyOf(peerIdFromString(id).toMultihash().bytes), region) && !testnet.bootstrapIds.has(id))
    const victims = inside.slice(0, Math.ceil(inside.length * 0.4))
    await testnet.stopNodes(victims)

    // a manual pass: the worker still trusts its lookups' map of the region, so it meets the dead
    const before = cluster.workerLog('region done').length
    expect((await cluster.api('/v1/sweep', { method: 'POST' })).status).toBe(202)
    const settled = await cluster.waitForResweeps(180_000)
    const after = cluster.workerLog('region done').slice(before)
    const manual = after.find((l) => l.prefix === region && l.reason === 'manual')!
    const resweep = after.find((l) => l.prefix === region && l.reason === 'resweep')
    const started = cluster.workerLog('region started').find((l) => l.prefix === region && l.reason === 'resweep')
    const keysInRegion = keys.filter((k) => keyHasPrefix(k.key, region))
    const recall = await testnet.recall(keysInRegion.map((k) => k.multihash), 20, { provider })
    console.log(`mass failure in region ${region}: ${victims.length} of ${inside.length} servers killed; manual pass ${manual.peersFailed} peers failed, ` +
      `${manual.replaced} records re-placed; re-sweep started ${Number(started?.time) - Number(manual.time)} ms after it (delay ${RESWEEP_DELAY_MS} ms), ` +
      `${settled.ran} re-sweeps in all; recall of the region's ${keysInRegion.length} keys against live servers ${recall.mean.toFixed(4)}`)
    // (whether the manual pass could re-place keys depends on the region holding more than k servers)
    expect(Number(manual.peersFailed)).toBeGreaterThan(0)
    expect(resweep).toBeDefined()
    expect(Number(started!.time) - Number(manual.time)).toBeLessThan(RESWEEP_DELAY_MS + 5000)
    expect(recall.mean).toBeGreaterThanOrEqual(0.98)
    const stats = await cluster.stats() as unknown as { provides: { regionsReswept: number; recordsReplaced: number } }
    expect(stats.provides.regionsReswept).toBeGreaterThanOrEqual(1)
    expect(stats.provides.recordsReplaced).toBe(sum(cluster.workerLog('region done'), 'replaced'))
    await cluster.stop()
  }, 600_000)

  it('[go] 30% of the servers killed during a provide: recall ≥ 0.98 against the live servers once it settles', async () => {
    const { testnet } = fixture
    const cluster = await startCluster(fixture, 'killed', 2)
    const keys = await randomCids(10_000)
    await cluster.provide(keys.map((k) => cidOf(k.multihash)))
    // once a third of the keys went out, so many holders die after taking records
    const keysDone = (): number => sum(cluster.workerLog('region done'), 'keys')
    await waitUntil('a third of the keys provided', async () => (keysDone() >= keys.length / 3 ? true : undefined), 120_000, 100)
    const doneBefore = keysDone()
    const victims = testnet.pickLive(0.3, { exclude: testnet.bootstrapIds })
    const killedAt = Date.now()
    await testnet.stopNodes(victims)
    const { workers: [{ peerId: provider }] } = await cluster.waitForCycle(300_000)
    const settled = await cluster.waitForResweeps(300_000)
    // (whether keys were re-placed depends on which jobs were sending at the kill; simnet tests that deterministically)
    const done = cluster.workerLog('region done')
    const recall = await testnet.recall(keys.map((k) => k.multihash), 20, { provider })
    console.log(`${victims.length} servers killed mid-provide, after ${doneBefore} keys were provided: ${done.length} region jobs (${settled.ran} re-sweeps), ` +
      `${sum(done, 'replaced')} records re-placed, recall against live servers ${recall.mean.toFixed(4)} ` +
      `(go ${recall.byImpl.go?.toFixed(4)}, js ${recall.byImpl.js?.toFixed(4)})`)
    if (recall.mean < 0.98) {
      console.log(`killed at ${killedAt}; per region:\n${cluster.recallByRegion(keys, recall.perKey)}`)
      console.log('coordinator warnings:\n' + cluster.coordinatorWarnings())
    }
    expect(recall.mean).toBeGreaterThanOrEqual(0.98)
    // the regions done before the deaths were swept again
    expect(settled.ran).toBeGreaterThan(0)
    await cluster.stop()
  }, 900_000)
})

// Its own network: on the one the tests above leave (a quarter of it killed), 30% more silent
// makes half of every routing table dead or silent, past the 30% the issue names. There one
// region's exploration missed live servers in 1 CI run of 3 (recall 0.974, the region 0.90).
describe.skipIf(goSkipReason != null)('[go] a cluster on a mixed network of 200 servers, 30% of them silent', () => {
  let fixture: ClusterFixture
  beforeAll(async () => { fixture = await ClusterFixture.start('silent', 200, 'mixed') }, 240_000)
  afterAll(async () => { await fixture?.stop() })

  it('[go] 30% of the servers silent: recall ≥ 0.98 against the live servers, and no region job runs past its own deadline', async () => {
    const { testnet } = fixture
    const silent = testnet.pickLive(0.3, { exclude: testnet.bootstrapIds })
    await testnet.makeUnreachable(silent)
    const cluster = await startCluster(fixture, 'silent', 2, { jobTimeout: '60s' })
    const keys = await randomCids(10_000)
    await cluster.provide(keys.map((k) => cidOf(k.multihash)))
    const { workers: [{ peerId: provider }] } = await cluster.waitForCycle(300_000)
    const started = cluster.workerLog('region started')
    const done = cluster.workerLog('region done')
    const recall = await testnet.recall(keys.map((k) => k.multihash), 20, { provider })
    const longest = Math.max(...done.map((l) => Number(l.ms)))
    console.log(`${silent.length} silent servers: ${done.length} region jobs, longest ${longest} ms of a 60 s deadline, ` +
      `recall against live servers ${recall.mean.toFixed(4)} (go ${recall.byImpl.go?.toFixed(4)}, js ${recall.byImpl.js?.toFixed(4)})`)
    if (recall.mean < 0.98) console.log(`per region:\n${cluster.recallByRegion(keys, recall.perKey)}`)
    expect(recall.mean).toBeGreaterThanOrEqual(0.98)
    expect(started.length).toBeGreaterThan(0)
    for (const s of started) expect(s.timeoutMs).toBe(60_000)
    // every job that started finished, inside its deadline
    expect(done.length).toBe(started.length)
    expect(longest).toBeLessThan(60_000)
    await cluster.stop()
  }, 600_000)
})
