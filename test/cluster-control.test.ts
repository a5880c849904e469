import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomCids } from './helpers.ts'
import { cidOf, ClusterFixture, type ClusterOptions, type TestCluster } from './lib/cluster.ts'
import { waitUntil } from './lib/processes.ts'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('cluster control: restarts, failover, stop and reset', () => {
  let fixture: ClusterFixture
  const newCluster = (options: Partial<ClusterOptions> & { namespace: string }) => fixture.cluster(options)
  const started = (cluster: TestCluster) => cluster.workerLog('region started')
  const done = (cluster: TestCluster) => cluster.workerLog('region done')

  beforeAll(async () => { fixture = await ClusterFixture.start('control', 60) }, 180_000)
  afterAll(async () => { await fixture?.stop() })

  it('a restarted coordinator keeps the cycle start and re-runs only stale regions', async () => {
    const cluster = newCluster({ namespace: 'restart', interval: '20s' })
    const first = await cluster.startCoordinator('coordinator-1')
    await cluster.startWorker('worker-1')
    await cluster.provide((await randomCids(500)).map((k) => cidOf(k.multihash)))
    const before = await cluster.waitForCycle()
    await first.stop()

    // back within the interval: nothing is stale, so nothing runs at once
    const ranBefore = started(cluster).length
    await cluster.startCoordinator('coordinator-2')
    const after = await cluster.stats()
    expect(after.cycle.start).toBe(before.cycle.start)
    await sleep(1500)
    const early = started(cluster).slice(ranBefore)
    expect(early.filter((l) => l.reason === 'catch-up')).toEqual([])

    // down for longer than the interval: every region is stale and caught up once
    await cluster.coordinators.get('coordinator-2')!.stop()
    await sleep(21_000)
    const ranDown = started(cluster).length
    await cluster.startCoordinator('coordinator-3')
    const caughtUp = await waitUntil('all regions caught up', async () => {
      const runs = started(cluster).slice(ranDown).filter((l) => l.reason === 'catch-up')
      return runs.length >= before.keys.regions ? runs : undefined
    }, 60_000)
    expect(new Set(caughtUp.map((l) => l.prefix)).size).toBe(before.keys.regions)
    expect((await cluster.stats()).cycle.start).toBe(before.cycle.start)
  }, 180_000)

  it('the standby takes over within 10 s when the leader dies, and there is never a second leader', async () => {
    const cluster = newCluster({ namespace: 'failover' })
    const a = await cluster.startCoordinator('coordinator-a')
    await a.waitForLog((l) => l.msg === 'elected leader')
    const b = await cluster.startCoordinator('coordinator-b')
    await sleep(3000)
    expect(b.logs.some((l) => l.msg === 'elected leader')).toBe(false)
    expect((await cluster.stats()).leader?.id).toBe('coordinator-a')

    await cluster.startWorker('worker-1')
    await a.stop('SIGKILL')
    const killedAt = Date.now()
    await b.waitForLog((l) => l.msg === 'elected leader', 15_000)
    const takeover = Date.now() - killedAt
    console.log(`standby took over ${takeover} ms after the leader was killed`)
    expect(takeover).toBeLessThan(10_000)

    // the new leader schedules: new keys get provided
    const keys = await randomCids(300)
    await cluster.provide(keys.map((k) => cidOf(k.multihash)))
    await cluster.waitForCycle()
    expect((await fixture.testnet.recall(keys.map((k) => k.multihash))).mean).toBeGreaterThanOrEqual(0.98)
  }, 180_000)

  it('keeps the keystore and schedule across a Redis restart (AOF)', async () => {
    const cluster = newCluster({ namespace: 'aof' })
    await cluster.startCoordinator('coordinator-1')
    await cluster.startWorker('worker-1')
    const keys = await randomCids(400)
    await cluster.provide(keys.map((k) => cidOf(k.multihash)))
    const before = await cluster.waitForCycle()
    await fixture.restartRedis()
    const after = await waitUntil('the API to answer after the restart', async () => {
      const s = await cluster.stats()
      return s.keys.total > 0 ? s : undefined
    }, 30_000)
    expect(after.keys.total).toBe(400)
    expect(after.keys.regions).toBe(before.keys.regions)
    expect(after.cycle.start).toBe(before.cycle.start)
    expect(after.cycle.regionsDone).toBe(before.cycle.regionsDone)
    const status = (await cluster.api(`/v1/cids/${cidOf(keys[7].multihash)}`)).body
    expect(status).toMatchObject({ stored: true })
    expect(typeof status.lastProvide).toBe('number')
  }, 180_000)

  it('stop removes CIDs from the next cycle; reset replaces the set atomically', async () => {
    const cluster = newCluster({ namespace: 'stop-reset' })
    await cluster.startCoordinator('coordinator-1')
    await cluster.startWorker('worker-1')
    const keys = (await randomCids(1000)).map((k) => cidOf(k.multihash))
    await cluster.provide(keys)
    await cluster.waitForCycle()
    const stopped = await cluster.provide(keys.slice(0, 300), '/v1/stop')
    expect(stopped).toMatchObject({ accepted: 300, removed: 300 })
    expect((await cluster.api(`/v1/cids/${keys[0]}`)).body).toMatchObject({ stored: false })

    const manualBefore = done(cluster).length
    expect((await cluster.api('/v1/sweep', { method: 'POST' })).status).toBe(202)
    const manual = await waitUntil('the manual cycle', async () => {
      const runs = done(cluster).slice(manualBefore).filter((l) => l.reason === 'manual')
      return runs.length >= (await cluster.stats()).keys.regions ? runs : undefined
    }, 60_000)
    expect(manual.reduce((sum, l) => sum + Number(l.keys), 0)).toBe(700)

    // a chunked reset changes nothing until its commit
    const replacement = (await randomCids(500)).map((k) => cidOf(k.multihash))
    const upload = (await cluster.api<{ upload: string }>('/v1/reprovide-set/uploads', { method: 'POST' })).body.upload
    await cluster.provide(replacement.slice(0, 250), `/v1/reprovide-set/uploads/${upload}`)
    expect((await cluster.stats()).keys.total).toBe(700)
    await cluster.provide(replacement.slice(250), `/v1/reprovide-set/uploads/${upload}`)
    expect((await cluster.api(`/v1/reprovide-set/uploads/${upload}/commit`, { method: 'POST' })).body).toMatchObject({ total: 500 })
    expect((await cluster.stats()).keys.total).toBe(500)
    expect((await cluster.api(`/v1/cids/${keys[500]}`)).body).toMatchObject({ stored: false })
    expect((await cluster.api(`/v1/cids/${replacement[0]}`)).body).toMatchObject({ stored: true })
  }, 180_000)

  it('reports malformed CIDs by line, keeps the valid rest, refuses oversize bodies and missing tokens', async () => {
    const cluster = newCluster({ namespace: 'input', maxBody: '64KiB', apiToken: 'secret' })
    await cluster.startCoordinator('coordinator-1')
    const good = (await randomCids(20)).map((k) => cidOf(k.multihash))
    const lines = [good[0], 'not-a-cid', good[1], '', '# comment', 'bafkqaaa', ...good.slice(2)]
    const answer = await cluster.provide(lines)
    expect(answer).toMatchObject({ accepted: 20, added: 20, invalidCount: 2 })
    expect((answer.invalid as Array<{ line: number }>).map((i) => i.line)).toEqual([2, 6])
    expect(String((answer.invalid as Array<{ error: string }>)[1].error)).toMatch(/sha2-256/)

    const big = (await randomCids(2000)).map((k) => cidOf(k.multihash)).join('\n')
    const refused = await cluster.api('/v1/provide', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: big })
    expect(refused.status).toBe(413)
    expect(String(refused.body.error)).toMatch(/limit/)
    expect((await cluster.stats()).keys.total).toBe(20)

    const anonymous = await fetch(`${cluster.apiUrl}/v1/stats`)
    expect(anonymous.status).toBe(401)
  }, 120_000)
})
