import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FencedOutError, Keystore, LeaderLease, ScheduleStore, type RegionRecord } from '../src/index.ts'
import { hex, multihashes, startTestRedis, type TestRedis } from './redis.ts'

let t: TestRedis
beforeAll(async () => { t = await startTestRedis() })
afterAll(async () => { await t.close() })

function region(prefix: string, extra: Partial<RegionRecord> = {}): RegionRecord {
  return { prefix, failures: 0, keys: 10, peers: 20, recordsSent: 200, lookups: 3, durationMs: 1500, ...extra }
}

describe('ScheduleStore', () => {
  it('persists the first cycle start and keeps it', async () => {
    const store = new ScheduleStore(t.redis, 'cycle')
    expect(await store.cycleStart()).toBeUndefined()
    expect(await store.initCycleStart(1000)).toBe(1000)
    expect(await store.initCycleStart(2000)).toBe(1000)
    expect(await store.cycleStart()).toBe(1000)
  })

  it('stores the network estimate', async () => {
    const store = new ScheduleStore(t.redis, 'network')
    expect(await store.network()).toBeUndefined()
    const info = { size: 12_000, prefixLength: 9, measuredAt: 5, by: 'worker-1' }
    await store.setNetwork(info)
    expect(await store.network()).toEqual(info)
  })

  it('replaces regions atomically under the leader fence and rejects a deposed leader', async () => {
    const store = new ScheduleStore(t.redis, 'fenced')
    const first = new LeaderLease(t.redis, { namespace: 'fenced', id: 'a', ttlMs: 200 })
    const fenceA = await first.acquire()
    expect(fenceA).toBeDefined()
    await store.replaceRegions([], [region('0'), region('1', { outcome: 'ok', lastReprovide: 42 })], fenceA!)
    await store.replaceRegions(['0'], [region('00'), region('01', { outcome: 'failed', failures: 2 })], fenceA!)
    await store.recordRegion(region('1', { outcome: 'empty', keys: 0 }), fenceA!)
    const regions = await store.regions()
    expect([...regions.keys()]).toEqual(['00', '01', '1'])
    expect(regions.get('01')).toEqual(region('01', { outcome: 'failed', failures: 2 }))
    expect(regions.get('1')).toEqual(region('1', { outcome: 'empty', keys: 0 }))

    // a wrong token from the same holder is refused too
    await expect(store.recordRegion(region('1'), { leaderId: 'a', token: fenceA!.token + 1 })).rejects.toBeInstanceOf(FencedOutError)

    // a stops renewing; b takes over; a's late write must not land
    await new Promise((resolve) => setTimeout(resolve, 260))
    const second = new LeaderLease(t.redis, { namespace: 'fenced', id: 'b', ttlMs: 200 })
    const fenceB = await second.acquire()
    expect(fenceB!.token).toBeGreaterThan(fenceA!.token)
    await expect(store.replaceRegions(['00'], [region('000')], fenceA!)).rejects.toThrow(FencedOutError)
    await expect(store.recordRegion(region('1', { keys: 99 }), fenceA!)).rejects.toThrow('leader a with token')
    expect([...(await store.regions()).keys()]).toEqual(['00', '01', '1'])
    await store.recordRegion(region('1', { keys: 99 }), fenceB!)
    expect((await store.regions()).get('1')!.keys).toBe(99)
  })

  it('names the region and field of a corrupt schedule entry', async () => {
    const store = new ScheduleStore(t.redis, 'corrupt')
    await t.redis.hset('{corrupt}:store:schedule', '0101', JSON.stringify({ keys: 'many' }))
    await expect(store.regions()).rejects.toThrow('schedule region "0101": keys should be a number')
  })

  it('takeDirty returns the marked regions once and clears them', async () => {
    const store = new ScheduleStore(t.redis, 'dirty')
    await store.markDirty(['01', '1', '01'])
    await store.markDirty(['001'])
    expect([...(await store.takeDirty()).keys()]).toEqual(['001', '01', '1'])
    expect((await store.takeDirty()).size).toBe(0)
    await store.markDirty(['11'])
    expect([...(await store.takeDirty()).keys()]).toEqual(['11'])
  })

  it('workers() keeps live heartbeats and prunes stale ones', async () => {
    const store = new ScheduleStore(t.redis, 'workers')
    const now = Date.now()
    await store.heartbeat({ id: 'w1', lastSeen: now, concurrency: 4 }, 10_000)
    await store.heartbeat({ id: 'w2', lastSeen: now - 20_000 }, 10_000)
    await store.heartbeat({ id: 'w3', lastSeen: now - 5_000 }, 10_000)
    expect((await store.workers(now)).map((w) => w.id)).toEqual(['w1', 'w3'])
    expect((await store.workers(now)).find((w) => w.id === 'w1')!.concurrency).toBe(4)
    expect(await t.redis.hkeys('{workers}:store:workers')).not.toContain('w2')
    expect((await store.workers(now + 6_000)).map((w) => w.id)).toEqual(['w1'])
    // a fresh heartbeat brings a worker back
    await store.heartbeat({ id: 'w3', lastSeen: now + 6_000 }, 10_000)
    expect((await store.workers(now + 6_000)).map((w) => w.id)).toEqual(['w1', 'w3'])
  })

  it('adds to integer and fractional counters', async () => {
    const store = new ScheduleStore(t.redis, 'counters')
    await store.addCounters({ regions: 2, busySeconds: 1.5 })
    await store.addCounters({ regions: 3, busySeconds: 0.25, recordsSent: 0 })
    expect(await store.counters()).toEqual({ regions: 5, busySeconds: 1.75 })
  })
})

describe('after a Redis restart (AOF)', () => {
  it('keeps the keystore and the schedule', async () => {
    const keystore = await Keystore.open(t.redis, { namespace: 'restart', bucketBits: 8 })
    const schedule = new ScheduleStore(t.redis, 'restart')
    const lease = new LeaderLease(t.redis, { namespace: 'restart', id: 'leader', ttlMs: 60_000 })
    const keys = multihashes(400, 'restart')
    await keystore.add(keys.slice(0, 300))
    await keystore.add(keys.slice(300), { once: true })
    const fence = (await lease.acquire())!
    await schedule.initCycleStart(777)
    await schedule.replaceRegions([], [region('0'), region('1')], fence)

    await t.restart()

    const reopened = await Keystore.open(t.redis, { namespace: 'restart' })
    expect(reopened.bucketBits).toBe(8)
    expect(await reopened.total()).toBe(400)
    const got: string[] = []
    for await (const batch of reopened.keys('', 128)) for (const k of batch) got.push(hex(k.multihash))
    expect(got.sort()).toEqual(keys.map(hex).sort())
    expect(await reopened.lookup(keys[350])).toEqual({ stored: true, once: true })
    // scripts are reloaded on the new connection
    expect(await reopened.add(multihashes(10, 'after-restart'))).toHaveLength(10)
    expect(await schedule.cycleStart()).toBe(777)
    expect([...(await schedule.regions()).keys()]).toEqual(['0', '1'])
    await schedule.recordRegion(region('1', { keys: 5 }), fence)
    expect((await schedule.regions()).get('1')!.keys).toBe(5)
  })
})
