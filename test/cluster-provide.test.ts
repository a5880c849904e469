import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { join } from 'node:path'
import { generateIdentity } from '@sweep/dht'
import { startRedisServer, type RedisServer } from '@sweep/store'
import { startTestnet, type Testnet } from '@sweep/testnet'
import { randomCids, tempDir } from './helpers.ts'
import { cidOf, TestCluster } from './lib/cluster.ts'
import type { LogLine } from './lib/processes.ts'

const CIDS = 10_000

/** Region jobs the workers finished, from their own logs. */
function regionsDone(cluster: TestCluster): Array<LogLine & { worker: string }> {
  return [...cluster.workers].flatMap(([worker, proc]) => proc.logs.filter((l) => l.msg === 'region done').map((l) => ({ ...l, worker })))
}

describe('a cluster of real processes providing to 80 real kad-dht servers', () => {
  let redis: RedisServer
  let testnet: Testnet
  let identityFile: string
  const clusters: TestCluster[] = []
  const newCluster = (namespace: string, lockDuration?: string): TestCluster => {
    const cluster = new TestCluster({ redisUrl: redis.url, bootstrap: testnet.bootstrap, identityFile, namespace, lockDuration })
    clusters.push(cluster)
    return cluster
  }

  beforeAll(async () => {
    const dir = await tempDir('cluster')
    ;[redis, testnet] = await Promise.all([startRedisServer({ dir: join(dir, 'redis') }), startTestnet({ nodes: 80 })])
    identityFile = join(dir, 'provider.key')
    await generateIdentity(identityFile)
  }, 180_000)

  afterAll(async () => {
    for (const cluster of clusters) await cluster.stop()
    await testnet?.stop()
    await redis?.stop()
  })

  it('provides 10,000 CIDs with 2 workers: recall ≥ 0.98, every region scheduled once per cycle', async () => {
    const cluster = newCluster('provide')
    await cluster.startCoordinator('coordinator-1')
    await Promise.all([cluster.startWorker('worker-1'), cluster.startWorker('worker-2')])
    const keys = await randomCids(CIDS)
    const answer = await cluster.provide(keys.map((k) => cidOf(k.multihash)))
    expect(answer).toMatchObject({ accepted: CIDS, added: CIDS, duplicates: 0, invalidCount: 0 })

    const stats = await cluster.waitForCycle()
    expect(stats.keys.total).toBe(CIDS)
    expect(stats.provides.keysProvided).toBeGreaterThanOrEqual(CIDS)
    const { mean, perKey } = await testnet.recall(keys.map((k) => k.multihash))
    console.log(`cluster placement recall ${mean.toFixed(4)}, regions ${stats.keys.regions}, records ${stats.provides.recordsSent}`)
    expect(mean).toBeGreaterThanOrEqual(0.98)
    expect(perKey.filter((r) => r === 0).length).toBe(0)

    const done = regionsDone(cluster)
    expect(new Set(done.map((d) => d.worker))).toEqual(new Set(['worker-1', 'worker-2']))
    const scheduled = done.filter((d) => d.reason === 'catch-up' || d.reason === 'reprovide')
    const perRegion = new Map<string, number>()
    for (const d of scheduled) perRegion.set(String(d.prefix), (perRegion.get(String(d.prefix)) ?? 0) + 1)
    expect(perRegion.size).toBe(stats.keys.regions)
    expect([...perRegion.values()].every((n) => n === 1)).toBe(true)
  }, 240_000)

  it('re-runs the job of a worker SIGKILLed mid-region on the other worker; no key lost', async () => {
    const cluster = newCluster('sigkill', '3s')
    await cluster.startCoordinator('coordinator-1')
    const [victim] = await Promise.all([cluster.startWorker('worker-1'), cluster.startWorker('worker-2')])
    const keys = await randomCids(CIDS)
    await cluster.provide(keys.map((k) => cidOf(k.multihash)))
    const started = await victim.waitForLog((l) => l.msg === 'region started' && l.reason === 'provide')
    await victim.stop('SIGKILL')
    expect(victim.logs.some((l) => l.msg === 'region done' && l.jobId === started.jobId)).toBe(false)

    const stats = await cluster.waitForCycle(180_000)
    const rerun = regionsDone(cluster).filter((d) => d.prefix === started.prefix && d.worker === 'worker-2')
    expect(rerun.length).toBeGreaterThanOrEqual(1)
    expect(stats.keys.total).toBe(CIDS)
    const { mean } = await testnet.recall(keys.map((k) => k.multihash))
    console.log(`recall after a worker was killed mid-region: ${mean.toFixed(4)}`)
    expect(mean).toBeGreaterThanOrEqual(0.98)
  }, 240_000)
})
