/**
 * First provide of a new CID: twenty single CIDs, each posted alone to a real
 * cluster on a mixed go/js network, each followed on the servers until its
 * closest servers hold it. Checks where the records land, and prints how long
 * they took; the timing goals are bench:first-provide's, not this test's
 * (a shared 2-core machine makes times a poor pass/fail signal).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { goSkipReason } from '../libs/testnet/test/go-available.ts'
import { randomCids } from './helpers.ts'
import { ClusterFixture } from './lib/cluster.ts'
import { formatMs, oursOneByOne, percentile } from './lib/first-provide.ts'

const SERVERS = 80
const CIDS = 20

describe.skipIf(goSkipReason != null)(`[go] first provide of single CIDs on a mixed network of ${SERVERS} go and js servers`, () => {
  let fixture: ClusterFixture
  beforeAll(async () => { fixture = await ClusterFixture.start('first-provide', SERVERS, 'mixed') }, 120_000)
  afterAll(async () => { await fixture?.stop() })

  it(`[go] ${CIDS} CIDs posted one at a time each reach a holder, then most of their 20 closest servers`, async () => {
    const cluster = fixture.cluster({ namespace: 'first' })
    await cluster.startCoordinator('coordinator-1')
    await cluster.startWorker('worker-1')
    // the fresh schedule's first pass: after it, each POST is a burst job of its own
    const stats = await cluster.waitForCycle()
    const provider = stats.workers[0].peerId

    const samples = await oursOneByOne(cluster, fixture.testnet, await randomCids(CIDS), provider)
    const first = samples.map((s) => s.firstMs)
    const all = samples.map((s) => s.allMs)
    console.log(`first provide, ${CIDS} single CIDs: first holder p50 ${formatMs(percentile(first, 50))} p95 ${formatMs(percentile(first, 95))}; ` +
      `all of the 20 closest p50 ${formatMs(percentile(all, 50))} p95 ${formatMs(percentile(all, 95))}; ` +
      `paths ${samples.map((s) => s.mode).join(',')}`)

    for (const s of samples) {
      expect(s.firstMs, `${s.cid} reached no server`).not.toBeNull()
      expect(s.held, `${s.cid} reached none of its 20 closest`).toBeGreaterThanOrEqual(1)
    }
    // most: every CID on at least 3/4 of its closest, and nearly all slots filled overall
    for (const s of samples) expect(s.held / s.wanted, `${s.cid}: ${s.held}/${s.wanted}`).toBeGreaterThanOrEqual(0.75)
    const held = samples.reduce((n, s) => n + s.held, 0) / samples.reduce((n, s) => n + s.wanted, 0)
    expect(held).toBeGreaterThanOrEqual(0.95)
    // each CID was a burst job of its own, and no key travelled in one (jobs name a prefix only)
    const jobs = cluster.workerLog('region started').filter((l) => l.reason === 'provide')
    expect(jobs.length).toBeGreaterThanOrEqual(CIDS)
  }, 90_000)
})
