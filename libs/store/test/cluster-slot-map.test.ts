/**
 * A cluster client that connected while the replicas were still syncing learns of them on its
 * own: CLUSTER SLOTS lists a replica only once it has synced, and ioredis otherwise re-reads the
 * map only on MOVED, so keystore writes would WAIT for no replica.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { expect, it } from 'vitest'
import { connectRedis, replicasToConfirm, startRedisCluster } from '../src/index.ts'

it('picks up replicas that synced after it connected, with no MOVED and no write falling short', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sweep-slot-map-'))
  const cluster = await startRedisCluster({ dir })
  const client = connectRedis(cluster.url)
  try {
    await client.set('slot-map-test', '1')
    const listedAtConnect = replicasToConfirm(client, 'slot-map-test')
    const deadline = Date.now() + 15_000
    while (replicasToConfirm(client, 'slot-map-test') < 1) {
      if (Date.now() > deadline) throw new Error(`the client still knew ${replicasToConfirm(client, 'slot-map-test')} replicas after 15 s`)
      await sleep(100)
    }
    expect(replicasToConfirm(client, 'slot-map-test')).toBe(1)
    console.log(`replicas known at connect: ${listedAtConnect}; now 1`)
  } finally {
    client.disconnect()
    await cluster.stop()
    await rm(dir, { recursive: true, force: true })
  }
}, 60_000)
