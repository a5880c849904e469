import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Cluster, Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { checkListpackConfig, HASH_LISTPACK_ENTRIES, redisMemory, startRedisCluster, type RedisCluster, type RedisClusterNode } from '../src/index.ts'

const keys = Array.from({ length: 300 }, (_, i) => `cluster-test:${i}`)

let dir: string
let cluster: RedisCluster
let client: Cluster
let direct: Redis[]

/** A plain connection to one node, for commands that must not be routed by slot. */
function node(port: number): Redis {
  const redis = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
  redis.on('error', () => {})
  direct.push(redis)
  return redis
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sweep-store-cluster-test-'))
  direct = []
  cluster = await startRedisCluster({ dir })
  // default options suffice: reads start only after waitHealthy, and ioredis drops the
  // dead master's connection (cluster nodes get no retryStrategy) and re-reads CLUSTER SLOTS
  client = new Cluster([{ host: '127.0.0.1', port: cluster.nodes[0].port }])
  client.on('error', () => {})
}, 60_000)

afterAll(async () => {
  client?.disconnect()
  for (const redis of direct ?? []) redis.disconnect()
  await cluster?.stop()
  if (dir !== undefined) await rm(dir, { recursive: true, force: true })
})

describe('startRedisCluster', () => {
  it('starts 3 masters with a replica each and spreads keys over all of them', async () => {
    expect(cluster.nodes).toHaveLength(6)
    expect(cluster.url).toBe(`redis+cluster://${cluster.nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`)
    const masters = await cluster.masters()
    expect(masters).toHaveLength(3)

    for (const key of keys) await client.set(key, `value of ${key}`)
    const ownedBy = await owners(masters)
    for (const master of masters) {
      const mine = keys.filter((key) => ownedBy.get(key) === master)
      expect(mine.length).toBeGreaterThan(0)
      const redis = node(master.port)
      expect(await redis.dbsize()).toBe(mine.length)
      const slot = Number(await redis.cluster('KEYSLOT', mine[0]))
      expect(await redis.cluster('COUNTKEYSINSLOT', slot)).toBeGreaterThanOrEqual(1)
    }
  }, 20_000)

  it('reaches every node with the server-wide checks: listpack limits on each, memory summed or of a key\'s master', async () => {
    for (const { port } of cluster.nodes) await node(port).config('SET', 'hash-max-listpack-entries', '128')
    // CLUSTER SLOTS lists a replica only once it has synced, each node on its own time, and the
    // client reads the map from any node: the checks reach the servers of the map it reads
    const listedByAll = async () => (await Promise.all(cluster.nodes.map(async ({ port }) =>
      ((await node(port).cluster('SLOTS')) as unknown[][]).every((range) => range.length === 4)))).every(Boolean)
    for (let waited = 0; !(await listedByAll()); waited += 100) {
      if (waited > 15_000) throw new Error('not every node listed the replicas in CLUSTER SLOTS within 15 s')
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    // a replica promoted later must keep the buckets compact too
    expect(await checkListpackConfig(client as unknown as Redis)).toEqual([])
    for (const { port } of cluster.nodes) expect((await node(port).config('GET', 'hash-max-listpack-entries') as string[])[1], `node ${port}`).toBe(String(HASH_LISTPACK_ENTRIES))

    const masters = await cluster.masters()
    const usedOf = async (port: number) => Number(/^used_memory:(\d+)/m.exec(await node(port).info('memory'))![1])
    const perMaster = await Promise.all(masters.map((m) => usedOf(m.port)))
    const sum = perMaster.reduce((a, b) => a + b, 0)
    const total = await redisMemory(client as unknown as Redis)
    // each node's own figure moves a little between the two reads
    expect(total.used).toBeGreaterThan(sum * 0.9)
    expect(total.used).toBeLessThan(sum * 1.1)
    expect(total.used).toBeGreaterThan(Math.max(...perMaster) * 2)
    const owner = (await owners(masters)).get(keys[0])!
    const ofKey = await redisMemory(client as unknown as Redis, keys[0])
    const ownerUsed = await usedOf(owner.port)
    expect(Math.abs(ofKey.used - ownerUsed)).toBeLessThan(ownerUsed * 0.1)
  }, 20_000)

  it('promotes a replica when a master is killed, keeping the keys it had', async () => {
    const before = await cluster.masters()
    // replication is async: make sure each master's replica has every write before the crash
    for (const master of client.nodes('master')) expect(await master.call('WAIT', '1', '1000')).toBe(1)
    const victim = before[0]
    const ownedBy = await owners(before)
    const victimKeys = keys.filter((key) => ownedBy.get(key) === victim)
    expect(victimKeys.length).toBeGreaterThan(0)

    await victim.kill()
    const started = Date.now()
    await cluster.waitHealthy(20_000)
    const failoverMs = Date.now() - started

    const after = await cluster.masters()
    expect(after).toHaveLength(3)
    expect(after.map((n) => n.port)).not.toContain(victim.port)
    const promoted = after.filter((n) => !before.includes(n))
    expect(promoted).toHaveLength(1)
    for (const key of victimKeys) expect(await client.get(key)).toBe(`value of ${key}`)
    expect(failoverMs).toBeLessThan(15_000)
  }, 40_000)
})

/** Which master holds each key, from the slot map of the first master. */
async function owners(masters: RedisClusterNode[]): Promise<Map<string, RedisClusterNode>> {
  const redis = node(masters[0].port)
  const ranges = await redis.cluster('SLOTS')
  const result = new Map<string, RedisClusterNode>()
  for (const key of keys) {
    const slot = Number(await redis.cluster('KEYSLOT', key))
    const range = ranges.find(([start, end]) => start <= slot && slot <= end)
    const master = masters.find((m) => m.port === range?.[2][1])
    if (master !== undefined) result.set(key, master)
  }
  return result
}
