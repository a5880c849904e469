import { describe, expect, it } from 'vitest'
import type { Prefix } from '@sweep/keyspace'
import type { RegionReport } from '@sweep/sweep'
import type { RegionResult } from '@sweep/queue'
import type { RegionRecord } from '@sweep/store'
import { applyResult, backoff, defaultRetry, oldestRegionAgeS } from '@sweep/coordinator'

const T = 1_700_000_000_000

function record(prefix: Prefix, overrides: Partial<RegionRecord> = {}): RegionRecord {
  return { prefix, failures: 0, keys: 10, peers: 20, recordsSent: 200, lookups: 2, durationMs: 100, lastReprovide: T - 1000, ...overrides }
}

function result(prefix: Prefix, report: Partial<RegionReport> | undefined): RegionResult {
  const full: RegionReport | undefined = report && {
    prefix, peerPrefix: prefix, regions: [{ prefix, peers: 20 }], mode: 'sweep', complete: true, keys: 50, recordsSent: 1000,
    recordsFailed: 0, peersFound: 20, peersReached: 20, peersFailed: 0, lookups: 3, durationMs: 900, succeeded: true, ...report
  }
  return { jobId: `j-${prefix}`, job: { prefix, reason: 'reprovide', attempt: 0, cycle: 1, enqueuedAt: T - 5000 }, worker: 'w', report: full, finishedAt: T, ...(full ? {} : { error: 'boom' }) }
}

const schedule = (...records: RegionRecord[]) => new Map(records.map((r) => [r.prefix, r]))

describe('applyResult', () => {
  it('records a successful provide as the region\'s last reprovide, with its numbers', () => {
    const update = applyResult(schedule(record('0'), record('1')), result('0', {}), defaultRetry)
    expect(update.remove).toEqual([])
    expect(update.upsert).toEqual([{ ...record('0'), lastReprovide: T, lastAttempt: T, outcome: 'ok', keys: 50, recordsSent: 1000, lookups: 3, durationMs: 900 }])
    expect(update.counters).toMatchObject({ regionsOk: 1, recordsSent: 1000, keysProvided: 50 })
    expect(update.retryAt).toBeUndefined()
  })

  it('keeps the old last reprovide on failure and backs off exponentially, capped', () => {
    const regions = schedule(record('0', { failures: 2 }), record('1'))
    const failed = applyResult(regions, result('0', { succeeded: false, recordsSent: 10 }), defaultRetry)
    expect(failed.upsert).toEqual([{ ...record('0'), failures: 3, lastAttempt: T, outcome: 'failed' }])
    expect(failed.retryAt).toBe(T + 4 * defaultRetry.baseMs)
    expect(failed.counters).toMatchObject({ regionsFailed: 1, recordsSent: 10, keysProvided: 0 })
    expect(applyResult(regions, result('1', undefined), defaultRetry).retryAt).toBe(T + defaultRetry.baseMs)
    expect(backoff(defaultRetry, 40)).toBe(defaultRetry.maxMs)
  })

  it('splits a region into the regions found; the parts inherit the fresh provide', () => {
    const update = applyResult(schedule(record('0'), record('1')), result('1', { regions: [{ prefix: '10', peers: 25 }, { prefix: '11', peers: 22 }] }), defaultRetry)
    expect(update.remove).toEqual(['1'])
    expect(update.upsert.map((r) => [r.prefix, r.lastReprovide, r.peers])).toEqual([['10', T, 25], ['11', T, 22]])
  })

  it('merges the entries of a widened region; the merged one is as stale as its stalest part', () => {
    const regions = schedule(record('0'), record('10', { lastReprovide: T - 50_000, keys: 3 }), record('11', { keys: 4 }))
    const update = applyResult(regions, result('11', { peerPrefix: '1', regions: [{ prefix: '1', peers: 21 }] }), defaultRetry)
    expect(update.remove.slice().sort()).toEqual(['10', '11'])
    expect(update.upsert).toHaveLength(1)
    expect(update.upsert[0]).toMatchObject({ prefix: '1', lastReprovide: T - 50_000, keys: 3 + 50, peers: 21 })
  })

  it('shows a merged region as holding keys when one part was provided with keys and the other found empty', () => {
    const regions = schedule(record('0'), record('10', { lastReprovide: T - 50_000, keys: 0, outcome: 'empty' }), record('11', { keys: 4 }))
    const update = applyResult(regions, result('11', { peerPrefix: '1', regions: [{ prefix: '1', peers: 21 }] }), defaultRetry)
    expect(update.upsert[0]).toMatchObject({ prefix: '1', lastReprovide: T - 50_000, outcome: 'ok' })
    const failedPart = schedule(record('0'), record('10', { outcome: 'failed' }), record('11', { keys: 4 }))
    expect(applyResult(failedPart, result('11', { peerPrefix: '1', regions: [{ prefix: '1', peers: 21 }] }), defaultRetry).upsert[0].outcome).toBe('failed')
    const emptyBoth = schedule(record('0'), record('10', { outcome: 'empty' }), record('11', { keys: 0 }))
    expect(applyResult(emptyBoth, result('11', { mode: 'empty', keys: 0, peerPrefix: '1', regions: [{ prefix: '1', peers: 21 }] }), defaultRetry).upsert[0].outcome).toBe('empty')
  })

  it('waits with a merge while a part was never provided, so the merged region does not send this job\'s keys again', () => {
    const regions = schedule(record('0'), record('10', { lastReprovide: undefined, keys: 3 }), record('11', { keys: 4 }))
    const update = applyResult(regions, result('11', { peerPrefix: '1', regions: [{ prefix: '1', peers: 21 }] }), defaultRetry)
    expect(update.remove).toEqual([])
    expect(update.upsert.map((r) => [r.prefix, r.lastReprovide])).toEqual([['11', T]])
  })

  it('credits every entry under a job that predates a split', () => {
    const update = applyResult(schedule(record('0'), record('10'), record('11')), result('1', { mode: 'plain', complete: false, regions: [] }), defaultRetry)
    expect(update.upsert.map((r) => [r.prefix, r.lastReprovide])).toEqual([['10', T], ['11', T]])
  })
})

describe('oldestRegionAgeS', () => {
  it('is the longest time since a provide, counting a region never provided from the cycle start', () => {
    const regions = new Map([['0', record('0', { lastReprovide: T - 3_600_000 })], ['10', record('10', { lastReprovide: T - 60_000 })]])
    expect(oldestRegionAgeS(regions, T - 7_200_000, T)).toBe(3600)
    regions.set('11', record('11', { lastReprovide: undefined }))
    expect(oldestRegionAgeS(regions, T - 7_200_000, T)).toBe(7200)
    expect(oldestRegionAgeS(new Map(), undefined, T)).toBe(0)
  })
})
