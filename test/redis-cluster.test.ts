import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connectRedis, openKeystore, type RedisCluster } from '@sweep/store'
import { randomCids, tempDir } from './helpers.ts'
import { cidOf, ClusterFixture } from './lib/cluster.ts'
import { SweepProcess, waitUntil } from './lib/processes.ts'

const CIDS = 5000
const IMPORT = 200_000

/** Keys of the namespace's keystore shards on each master, counted on the master itself. */
async function shardKeysPerMaster(cluster: RedisCluster, namespace: string): Promise<number[]> {
  return Promise.all((await cluster.masters()).map(async (master) => {
    const direct = connectRedis(`redis://127.0.0.1:${master.port}`)
    try {
      let n = 0
      let cursor = '0'
      do {
        const [next, found] = await direct.scan(cursor, 'MATCH', `{${namespace}/*`, 'COUNT', 1000)
        cursor = next
        n += found.length
      } while (cursor !== '0')
      return n
    } finally {
      direct.disconnect()
    }
  }))
}

describe('a cluster of real processes on a real Redis Cluster (3 masters, 3 replicas)', () => {
  let fixture: ClusterFixture
  let redisCluster: RedisCluster
  beforeAll(async () => {
    fixture = await ClusterFixture.start('redis-cluster', 40, 'js', { redisCluster: true })
    redisCluster = fixture.redis as RedisCluster
  }, 180_000)
  afterAll(async () => { await fixture?.stop() })

  it('provides 5,000 CIDs with 2 workers: recall ≥ 0.98, the keystore spread over every master', async () => {
    const cluster = fixture.cluster({ namespace: 'rc' })
    await cluster.startCoordinator('coordinator-1')
    await Promise.all([cluster.startWorker('worker-1'), cluster.startWorker('worker-2')])
    await cluster.waitForCycle()
    const keys = await randomCids(CIDS)
    expect(await cluster.provide(keys.map((k) => cidOf(k.multihash)))).toMatchObject({ accepted: CIDS, added: CIDS, duplicates: 0 })
    const stats = await cluster.waitForCycle()
    expect(stats.keys.total).toBe(CIDS)
    const { mean, perKey } = await fixture.testnet.recall(keys.map((k) => k.multihash))
    console.log(`recall on a Redis Cluster ${mean.toFixed(4)}, regions ${stats.keys.regions}, records ${stats.provides.recordsSent}`)
    expect(mean).toBeGreaterThanOrEqual(0.98)
    expect(perKey.filter((r) => r === 0)).toHaveLength(0)
    const done = cluster.workerLog('region done')
    expect(new Set(done.map((d) => d.worker))).toEqual(new Set(['worker-1', 'worker-2']))

    const perMaster = await shardKeysPerMaster(redisCluster, 'rc')
    console.log(`keystore keys per master: ${perMaster.join(', ')}`)
    expect(perMaster).toHaveLength(3)
    for (const n of perMaster) expect(n).toBeGreaterThan(0)

    // a reset cannot switch 64 shards in one step: it is refused, by name, and nothing changes
    const reset = await cluster.api<{ error: string }>('/v1/reprovide-set', { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: cidOf(keys[0].multihash) })
    expect(reset.status).toBe(501)
    expect(reset.body.error).toMatch(/sharded \(64 shards.*sweep provide.*sweep stop/)
    expect((await cluster.stats()).keys.total).toBe(CIDS)
    await cluster.stop()
  }, 300_000)

  it('an import through `sweep provide` with a master killed mid-way completes or names the lines not stored; the counts equal what is stored', async () => {
    const cluster = fixture.cluster({ namespace: 'rc-failover' })
    await cluster.startCoordinator('coordinator-1')
    const keys = await randomCids(IMPORT)
    const file = join(await tempDir('rc-import'), 'cids.txt')
    await writeFile(file, keys.map((k) => cidOf(k.multihash)).join('\n') + '\n')
    const importer = new SweepProcess('import', ['provide', file, '--api', cluster.apiUrl])
    // a master dies once the import is under way (some keys stored)
    const redis = connectRedis(redisCluster.url, { name: 'rc-failover-test' })
    redis.on('error', () => {})
    const keystore = await openKeystore(redis, { namespace: 'rc-failover', create: false })
    await waitUntil('the import to be under way', async () => ((await keystore.total()) > 0 ? true : undefined), 60_000, 20)
    const [victim] = await redisCluster.masters()
    await victim.kill()
    const code = await importer.exited
    const output = importer.logs.map((l) => l.msg).join('\n')
    console.log(`import across a failover exited ${code}:\n${output.slice(-600)}`)
    await redisCluster.waitHealthy()
    expect((await redisCluster.masters()).map((m) => m.port)).not.toContain(victim.port)

    const count = await keystore.count('')
    if (code === 0) {
      expect(output).toMatch(new RegExp(`${IMPORT.toLocaleString('en-US')}|${IMPORT}`))
      expect(count).toBe(IMPORT)
    } else {
      // the lines before the first failed chunk are stored; running the input again completes it
      const done = Number(/the first (\d+) lines were done/.exec(output)?.[1] ?? 0)
      expect(count).toBeGreaterThanOrEqual(done)
      for (const key of keys.slice(0, done).filter((_, i) => i % 97 === 0)) expect((await keystore.lookup(key.multihash)).stored).toBe(true)
      const again = new SweepProcess('import-again', ['provide', file, '--api', cluster.apiUrl])
      expect(await again.exited).toBe(0)
      expect(await keystore.count('')).toBe(IMPORT)
    }
    // counters moved in the same scripts as the keys, on the promoted replicas too
    await keystore.repairUnsettledAdds()
    expect(await keystore.total()).toBe(await keystore.count(''))
    expect((await cluster.stats()).keys.total).toBe(await keystore.count(''))
    redis.disconnect()
    await cluster.stop()
  }, 300_000)
})
