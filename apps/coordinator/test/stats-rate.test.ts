/** The provide rate of /v1/stats is honest from a cluster's first minute on. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RegionRecord } from '@sweep/store'
import { api, startTestApi, startTestRedis, type TestApi, type TestRedis } from './api-fixture.ts'

type Provides = { provides: { keysPerMinute: number; rateWindowMs: number } }

function region(prefix: string, keys: number, providedAt: number): RegionRecord {
  return { prefix, lastReprovide: providedAt, lastAttempt: providedAt, outcome: 'ok', failures: 0, keys, peers: 20, recordsSent: 20 * keys, lookups: 2, durationMs: 1000 }
}

async function clusterOfAge(t: TestRedis, namespace: string, ageMs: number, regions: RegionRecord[]): Promise<TestApi> {
  const server = await startTestApi(t.server.url, { namespace })
  await server.schedule.initCycleStart(Date.now() - ageMs)
  await server.schedule.replaceRegions([], regions, (await server.lease.acquire())!)
  return server
}

describe('keysPerMinute', () => {
  let t: TestRedis
  const servers: TestApi[] = []
  beforeAll(async () => { t = await startTestRedis('stats-rate') })
  afterAll(async () => {
    for (const server of servers) await server.close()
    await t?.stop()
  })

  it('averages a cluster 30 s old over its 30 s, not over 10 min', async () => {
    const now = Date.now()
    servers.push(await clusterOfAge(t, 'young', 30_000, [region('0', 6000, now - 20_000), region('1', 5000, now - 5000)]))
    const { provides } = (await api<Provides>(servers[0].url, '/v1/stats')).body
    expect(provides.rateWindowMs).toBeGreaterThanOrEqual(30_000)
    expect(provides.rateWindowMs).toBeLessThan(35_000)
    // 11k keys in ~30 s: ~22k keys/min (the 10-min average said 1.1k)
    expect(provides.keysPerMinute).toBeGreaterThan(18_000)
    expect(provides.keysPerMinute).toBeLessThanOrEqual(22_000)
  })

  it('averages an older cluster over the last 10 min, leaving out regions provided before them', async () => {
    const now = Date.now()
    servers.push(await clusterOfAge(t, 'old', 3 * 3_600_000, [region('0', 6000, now - 20 * 60_000), region('1', 5000, now - 60_000)]))
    const { provides } = (await api<Provides>(servers[1].url, '/v1/stats')).body
    expect(provides.rateWindowMs).toBe(600_000)
    expect(provides.keysPerMinute).toBe(500)
  })

  it('never divides by less than 10 s in a cluster a moment old', async () => {
    servers.push(await clusterOfAge(t, 'newborn', 1000, [region('', 1000, Date.now() - 500)]))
    const { provides } = (await api<Provides>(servers[2].url, '/v1/stats')).body
    expect(provides.rateWindowMs).toBe(10_000)
    expect(provides.keysPerMinute).toBe(6000)
  })
})
