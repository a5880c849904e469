/** Job and result data are validated at the queue boundary, and errors name the bad field. */
import { describe, expect, it } from 'vitest'
import { connectionOf, parseRegionJob, parseRegionResult, provideJobId, queueKeys, regionJobId, resultJobId } from '../src/index.ts'
import { regionJob, reportFor } from './helpers.ts'

describe('parseRegionJob', () => {
  it('accepts a valid job and drops unknown fields', () => {
    // a job an older coordinator queued still carries its trace carrier: dropped too
    const job = parseRegionJob({ ...regionJob('0101'), keys: ['nope'], trace: { traceparent: 'x' } })
    expect(job).toEqual({ prefix: '0101', reason: 'reprovide', attempt: 0, cycle: 1, enqueuedAt: job.enqueuedAt })
    expect(parseRegionJob(regionJob('')).prefix).toBe('')
  })

  it.each([
    [{ prefix: '012' }, /^region job: prefix: must be a bit string/],
    [{ prefix: '0'.repeat(65) }, /^region job: prefix: .*at most 64/],
    [{ prefix: 7 }, /^region job: prefix: must be a bit string/],
    [{ reason: 'later' }, /^region job: reason: must be one of reprovide, provide/],
    [{ attempt: -1 }, /^region job: attempt: must be ≥ 0/],
    [{ attempt: 1.5 }, /^region job: attempt: must be an integer/],
    [{ cycle: '3' }, /^region job: cycle: must be a number/],
    [{ enqueuedAt: undefined }, /^region job: enqueuedAt: must be a number/]
  ])('rejects %j', (override, message) => {
    expect(() => parseRegionJob({ ...regionJob('01'), ...override })).toThrow(message)
  })

  it('rejects non-objects', () => {
    expect(() => parseRegionJob(null)).toThrow('region job: expected an object, got null')
    expect(() => parseRegionJob('0101')).toThrow('region job: expected an object, got string')
  })
})

describe('parseRegionResult', () => {
  const valid = { jobId: 'region-01-c1-a0', job: regionJob('01'), worker: 'w1', report: reportFor('01'), finishedAt: 1 }

  it('accepts a report or an error, not neither', () => {
    expect(parseRegionResult(valid).report?.recordsSent).toBe(200)
    expect(parseRegionResult({ ...valid, report: undefined, error: 'boom' }).error).toBe('boom')
    expect(() => parseRegionResult({ ...valid, report: undefined })).toThrow('region result: report: needs a report or an error')
  })

  it.each([
    [{ report: { ...reportFor('01'), recordsSent: -3 } }, /^region result: report\.recordsSent: must be ≥ 0/],
    [{ report: { ...reportFor('01'), mode: 'fast' } }, /^region result: report\.mode: must be one of empty, plain, sweep/],
    [{ report: { ...reportFor('01'), peerPrefix: 'ab' } }, /^region result: report\.peerPrefix: must be a bit string/],
    [{ report: { ...reportFor('01'), regions: [{ prefix: '01', peers: -1 }] } }, /^region result: report\.regions\.0\.peers: must be ≥ 0/],
    [{ report: { ...reportFor('01'), regions: [{ prefix: '2', peers: 1 }] } }, /^region result: report\.regions\.0\.prefix: must be a bit string/],
    [{ job: { ...regionJob('01'), prefix: 'x' } }, /^region result: job\.prefix: must be a bit string/],
    [{ worker: '' }, /^region result: worker: must not be empty/],
    [{ finishedAt: 'now' }, /^region result: finishedAt: must be a number/]
  ])('rejects %j', (override, message) => {
    expect(() => parseRegionResult({ ...valid, ...override })).toThrow(message)
  })
})

describe('ids and keys', () => {
  it('dedupes region jobs per reason, prefix, cycle and attempt; manual sweeps per request', () => {
    expect(regionJobId(regionJob('0101'))).toBe('reprovide-0101-c1-a0')
    expect(regionJobId(regionJob('0101', { reason: 'catch-up' }))).toBe('catch-up-0101-c1-a0')
    expect(regionJobId(regionJob('0101', { reason: 'manual', enqueuedAt: 42 }))).toBe('manual-0101-t42')
    expect(regionJobId(regionJob('0101', { reason: 'retry', attempt: 1 }))).toBe('retry-0101-c1-a1')
    expect(regionJobId(regionJob('', { cycle: 7 }))).toBe('reprovide-root-c7-a0')
    expect(provideJobId('0101')).toBe('provide-0101')
    expect(resultJobId('provide-0101', 1700000000000, 2)).toBe('provide-0101.1700000000000.2')
  })

  it('names the Redis keys under a hash tag, and checks the namespace', () => {
    expect(queueKeys()).toMatchObject({ prefix: '{sweep}', regions: '{sweep}:regions', regionsWait: '{sweep}:regions:wait', results: '{sweep}:results' })
    expect(queueKeys('blue').regionsWait).toBe('{blue}:regions:wait')
    expect(() => queueKeys('a:b')).toThrow(/namespace: .*"a:b"/)
  })
})

describe('connectionOf', () => {
  it('refuses a URL that is not redis:// or rediss:// without printing its password', () => {
    expect(() => connectionOf({ redisUrl: 'http://alice:hunter2@redis:6379' })).toThrow(/^redisUrl: expected redis:\/\/HOST:PORT, rediss:\/\/\.\.\. or redis\+cluster:\/\/HOST:PORT,HOST:PORT, got "http:\/\/\*\*\*@redis:6379"$/)
    expect((connectionOf({ redisUrl: 'rediss://alice:hunter2@redis:6379' }).connection as { url: string }).url).toBe('rediss://alice:hunter2@redis:6379')
  })
})
