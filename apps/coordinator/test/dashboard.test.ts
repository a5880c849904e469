/**
 * The dashboard's data: the throughput and failures a coordinator remembers, and the event
 * stream of a real API server on a real Redis (updates, and no hold on the server's close).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DashboardMemory, THROUGHPUT_BUCKET_MS, THROUGHPUT_BUCKETS } from '../src/dashboard-view.ts'
import { startTestApi, startTestRedis, type TestRedis } from './api-fixture.ts'

const MINUTE = THROUGHPUT_BUCKET_MS
const region = (prefix: string, lastAttempt: number, outcome: 'ok' | 'failed') =>
  ({ prefix, lastAttempt, outcome, failures: outcome === 'failed' ? 2 : 0, keys: 10, peers: 20, recordsSent: 0, lookups: 0, durationMs: 0 })

describe('DashboardMemory', () => {
  it('counts the counters\' growth into the minute it happened in, over the last hour', () => {
    const memory = new DashboardMemory()
    const start = 100 * MINUTE
    memory.note(start, { keysProvided: 1000, recordsSent: 20_000 })
    memory.note(start + 10_000, { keysProvided: 1500, recordsSent: 30_000 })
    memory.note(start + MINUTE + 5000, { keysProvided: 1700, recordsSent: 34_000 })
    // a reset counter counts nothing rather than a negative rate
    memory.note(start + 2 * MINUTE, { keysProvided: 0, recordsSent: 0 })
    const now = start + 2 * MINUTE + 1000
    const t = memory.throughput(now)
    expect(t.keys).toHaveLength(THROUGHPUT_BUCKETS)
    expect(t.from + THROUGHPUT_BUCKETS * MINUTE).toBeGreaterThan(now)
    expect(t.keys.slice(-3)).toEqual([500, 200, 0])
    expect(t.records.slice(-3)).toEqual([10_000, 4000, 0])
    expect(t.since).toBe(start)

    // an hour later, the old samples are gone but for the base of the oldest bucket
    memory.note(now + 61 * MINUTE, { keysProvided: 50, recordsSent: 100 })
    const later = memory.throughput(now + 61 * MINUTE)
    expect(later.keys.reduce((a, b) => a + b, 0)).toBe(50)
  })

  it('keeps a failure listed after its region recovered, newest first, at most 20', () => {
    const memory = new DashboardMemory()
    expect(memory.failures([region('00', 1000, 'failed'), region('01', 1000, 'ok')]).map((f) => f.prefix)).toEqual(['00'])
    const after = memory.failures([region('00', 2000, 'ok'), region('01', 3000, 'failed')])
    expect(after.map((f) => [f.prefix, f.at])).toEqual([['01', 3000], ['00', 1000]])
    const many = memory.failures(Array.from({ length: 30 }, (_, i) => region(i.toString(2), 10_000 + i, 'failed')))
    expect(many).toHaveLength(20)
    expect(many[0].at).toBe(10_029)
  })
})

describe('the dashboard event stream', () => {
  let redis: TestRedis
  beforeAll(async () => { redis = await startTestRedis('api-dashboard') })
  afterAll(async () => { await redis?.stop() })

  it('sends a snapshot at once, then updates with the regions that changed, and ends when the server closes, without its drain grace', async () => {
    const api = await startTestApi(redis.server.url, { namespace: 'dashboard-events', eventIntervalMs: 100, drainGraceMs: 10_000 })
    const fence = (await api.lease.acquire())!
    const res = await fetch(`${api.url}/v1/events`)
    expect(res.headers.get('content-type')).toContain('text/event-stream')
    const reader = res.body!.getReader()
    let buffered = ''
    const nextEvent = async (): Promise<{ name: string; data: Record<string, unknown> }> => {
      while (!/\n\n/.test(buffered.replace(/^retry: \d+\n\n/, ''))) buffered += new TextDecoder().decode((await reader.read()).value)
      buffered = buffered.replace(/^retry: \d+\n\n/, '')
      const end = buffered.indexOf('\n\n')
      const [, name, data] = /^event: (\w+)\ndata: (.*)$/s.exec(buffered.slice(0, end))!
      buffered = buffered.slice(end + 2)
      return { name, data: JSON.parse(data) as Record<string, unknown> }
    }
    const first = await nextEvent()
    expect(first.name).toBe('snapshot')
    expect(first.data).toMatchObject({ stats: { keys: { total: 0 } }, regions: [] })
    // with nothing changed, an update carries no region
    expect(await nextEvent()).toMatchObject({ name: 'update', data: { changed: [], removed: [] } })

    const record = { prefix: '01', failures: 0, keys: 7, peers: 20, recordsSent: 140, lookups: 1, durationMs: 5, lastReprovide: 1000, outcome: 'ok' as const }
    await api.schedule.replaceRegions([], [record, { ...record, prefix: '1' }], fence)
    const changes = async (): Promise<{ changed: Array<{ prefix: string }>; removed: string[] }> => {
      for (;;) {
        const { name, data } = await nextEvent()
        expect(name).toBe('update')
        if ((data.changed as unknown[]).length > 0 || (data.removed as unknown[]).length > 0) return data as never
      }
    }
    expect((await changes()).changed.map((r) => r.prefix)).toEqual(['01', '1'])
    await api.schedule.recordRegion({ ...record, lastReprovide: 2000 }, fence)
    expect(await changes()).toMatchObject({ changed: [{ prefix: '01', lastReprovide: 2000 }], removed: [] })
    await api.schedule.replaceRegions(['01'], [], fence)
    expect(await changes()).toEqual(expect.objectContaining({ changed: [], removed: ['01'] }))
    const started = Date.now()
    const ended = (async () => {
      for (;;) if ((await reader.read()).done) return Date.now()
    })()
    await api.close()
    expect(Date.now() - started).toBeLessThan(2000)
    expect((await ended) - started).toBeLessThan(2000)
  })
})
