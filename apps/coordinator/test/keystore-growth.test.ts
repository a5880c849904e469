/**
 * The leader re-buckets the keystore online: started with more --bucket-bits than an
 * existing keystore has, it moves the keystore to them while provides keep coming through
 * the API, and every key, old and new, is in the re-bucketed set.
 */
import { Writable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import pino from 'pino'
import { CID } from 'multiformats/cid'
import { connectRedis, Keystore, waitForRedis } from '@sweep/store'
import { defaultCoordinatorConfig, startCoordinator } from '../src/index.ts'
import { api, cids, startTestRedis, type TestRedis } from './api-fixture.ts'

interface LogLine { msg: string; [field: string]: unknown }

function capturingLogger(lines: LogLine[]): pino.Logger {
  return pino({ level: 'info' }, new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as LogLine)
      done()
    }
  }))
}

describe('the leader re-buckets the keystore online', () => {
  let redis: TestRedis
  beforeAll(async () => { redis = await startTestRedis('growth') })
  afterAll(async () => { await redis?.stop() })

  it('moves an 8-bit keystore to the 10 bits it was started with, while provides go on, and keeps every key', async () => {
    const client = connectRedis(redis.server.url, { name: 'growth-check' })
    await waitForRedis(client, redis.server.url)
    const before = cids(120_000, 1)
    const old = await Keystore.open(client, { namespace: 'growth', bucketBits: 8 })
    await old.addCount(before.map((cid) => CID.parse(cid).multihash.bytes))

    const logs: LogLine[] = []
    const coordinator = await startCoordinator({
      ...defaultCoordinatorConfig, redisUrl: redis.server.url, namespace: 'growth', bucketBits: 10,
      api: { host: '127.0.0.1', port: 0 }, metrics: { host: '127.0.0.1', port: 0 }, keystoreCheckMs: 200, rebucketDrainMs: 500
    }, capturingLogger(logs))
    try {
      // provides posted while the re-bucketing runs (bounded: 40 posts or 60 s)
      const posted: string[] = []
      let sawRebucketing = false
      const deadline = Date.now() + 60_000
      for (let post = 0; post < 40 && Date.now() < deadline && !logs.some((l) => l.msg === 're-bucketed the keystore'); post++) {
        const batch = cids(2000, 100 + post)
        const answer = await api<{ added: number }>(coordinator.apiUrl, '/v1/provide', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: batch.join('\n') })
        expect(answer).toMatchObject({ status: 200, body: { added: 2000 } })
        posted.push(...batch)
        const stats = await api<{ keys: { rebucketing: unknown } }>(coordinator.apiUrl, '/v1/stats')
        if (stats.body.keys.rebucketing !== null) sawRebucketing = true
      }
      while (!logs.some((l) => l.msg === 're-bucketed the keystore') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
      const done = logs.find((l) => l.msg === 're-bucketed the keystore')
      console.log(`re-bucketed 8 → 10 bits with ${posted.length} CIDs posted meanwhile: ${JSON.stringify(done)}`)
      expect(done).toMatchObject({ fromBits: 8, toBits: 10 })
      expect(sawRebucketing).toBe(true)
      expect(posted.length).toBeGreaterThan(0)

      const stats = await api<{ keys: { total: number; bucketBits: number; rebucketing: unknown } }>(coordinator.apiUrl, '/v1/stats')
      expect(stats.body.keys).toMatchObject({ total: before.length + posted.length, bucketBits: 10, rebucketing: null })
      const reopened = await Keystore.open(client, { namespace: 'growth' })
      expect(reopened.bucketBits).toBe(10)
      expect(await reopened.count('')).toBe(before.length + posted.length)
      for (const cid of [...before.slice(0, 500), ...posted.slice(-500)]) {
        expect((await reopened.lookup(CID.parse(cid).multihash.bytes)).stored).toBe(true)
      }
    } finally {
      await coordinator.stop()
      client.disconnect()
    }
  }, 120_000)
})
