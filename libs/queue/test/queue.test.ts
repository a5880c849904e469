/** Region jobs through real BullMQ on a private redis-server: dedupe, lanes, results, retries, validation. */
import { setTimeout as sleep } from 'node:timers/promises'
import { Queue } from 'bullmq'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { queueKeys, RegionQueue, UnrecoverableError, RegionWorker, REGIONS_QUEUE, type RegionHandler, type RegionJob } from '../src/index.ts'
import { collectResults, freshNamespace, regionJob, reportFor, startTestRedis, waitFor, type TestRedis } from './helpers.ts'

let redis: TestRedis
const closers: Array<() => Promise<unknown>> = []

beforeAll(async () => { redis = await startTestRedis() })
afterEach(async () => {
  while (closers.length > 0) await closers.pop()!()
})
afterAll(async () => { await redis.stop() })

function queue(namespace: string, options: { backoffMs?: number } = {}): RegionQueue {
  const q = new RegionQueue({ redisUrl: redis.url, namespace, ...options })
  closers.push(() => q.close())
  return q
}

function worker(namespace: string, handler: RegionHandler, concurrency = 1): RegionWorker {
  const w = new RegionWorker({ redisUrl: redis.url, namespace, workerId: `w${closers.length}`, concurrency }, handler)
  closers.push(() => w.close(0))
  return w
}

function consumer(namespace: string): ReturnType<typeof collectResults> {
  const collected = collectResults(redis.url, namespace)
  closers.push(() => collected.consumer.close())
  return collected
}

/** A handler that records what it ran and reports success. */
function recording(ran: RegionJob[]): RegionHandler {
  return async (job) => {
    ran.push(job)
    return reportFor(job.prefix)
  }
}

describe('RegionQueue and RegionWorker', () => {
  it('runs a job once when it is enqueued twice, and delivers its report', async () => {
    const ns = freshNamespace()
    const q = queue(ns)
    const job = regionJob('0110')
    expect(await q.enqueue(job)).toBe(true)
    expect(await q.enqueue({ ...job, enqueuedAt: job.enqueuedAt + 5 })).toBe(false)
    const ran: RegionJob[] = []
    const { results } = consumer(ns)
    worker(ns, recording(ran))
    await waitFor(() => results.length >= 1, 10_000, 'one result')
    // Still a no-op once the job has completed: finished jobs keep their id.
    expect(await q.enqueue(job)).toBe(false)
    await sleep(300)
    expect(ran.map((j) => j.prefix)).toEqual(['0110'])
    expect(results).toHaveLength(1)
    expect(results[0]).toMatchObject({ jobId: 'reprovide-0110-c1-a0', job: { prefix: '0110', reason: 'reprovide' }, worker: 'w2', report: reportFor('0110'), attemptsMade: 0, retrying: false })
    expect(results[0].error).toBeUndefined()
    expect(await q.counts()).toMatchObject({ waiting: 0, active: 0, completed: 1 })
  })

  it('runs a burst-lane provide job before reprovides that were queued earlier', async () => {
    const ns = freshNamespace()
    const q = queue(ns)
    for (const prefix of ['000', '001', '010', '011', '100']) await q.enqueue(regionJob(prefix))
    expect(await q.requestProvide('111')).toBe('queued')
    const counts = await q.counts()
    expect(counts).toMatchObject({ waiting: 6, prioritized: 0 })
    expect(counts.waiting).toBe(6)
    const ran: RegionJob[] = []
    const { results } = consumer(ns)
    worker(ns, recording(ran), 1)
    await waitFor(() => results.length >= 6, 10_000, 'six results')
    expect(ran.map((j) => `${j.reason}:${j.prefix}`)).toEqual([
      'provide:111', 'reprovide:000', 'reprovide:001', 'reprovide:010', 'reprovide:011', 'reprovide:100'
    ])
  })

  it('keeps every ready job, both lanes, in the one wait list that autoscaling reads', async () => {
    const ns = freshNamespace()
    const q = queue(ns)
    await q.enqueue(regionJob('0'))
    await q.requestProvide('1')
    const client = new Redis(redis.url)
    closers.push(async () => client.quit())
    expect(await client.llen(queueKeys(ns).regionsWait)).toBe(2)
    expect(await client.zcard(`${queueKeys(ns).regions}:prioritized`)).toBe(0)
  })

  it('merges provide requests while waiting, says busy while running, queues again after completion', async () => {
    const ns = freshNamespace()
    const q = queue(ns)
    expect(await q.requestProvide('0101')).toBe('queued')
    expect(await q.requestProvide('0101')).toBe('merged')
    expect(await q.requestProvide('0110')).toBe('queued')

    let release!: () => void
    const gate = new Promise<void>((resolve) => { release = resolve })
    const ran: string[] = []
    const { results } = consumer(ns)
    worker(ns, async (job) => {
      ran.push(job.prefix)
      if (job.prefix === '0101' && ran.filter((p) => p === '0101').length === 1) await gate
      return reportFor(job.prefix)
    }, 2)
    await waitFor(() => ran.includes('0101'), 10_000, 'the provide job to start')
    expect(await q.requestProvide('0101')).toBe('busy')
    // what the dashboard shows of each worker: the job it runs, and since when
    // (0110 may still be completing beside it)
    const running = (await q.running()).filter((job) => job.prefix === '0101')
    expect(running).toHaveLength(1)
    expect(running[0]).toMatchObject({ jobId: 'provide-0101', prefix: '0101', reason: 'provide', worker: `w${closers.length - 1}` })
    expect(Date.now() - running[0].startedAt!).toBeLessThan(10_000)
    release()
    await waitFor(() => results.filter((r) => r.job.prefix === '0101').length === 1, 10_000, 'the provide result')
    await waitFor(async () => (await q.state('provide-0101')) === 'unknown', 5000, 'the finished provide job to go away')
    expect(await q.requestProvide('0101')).toBe('queued')
    await waitFor(() => results.filter((r) => r.job.prefix === '0101').length === 2, 10_000, 'the second provide result')
    expect(ran.sort()).toEqual(['0101', '0101', '0110'])
    expect(results.filter((r) => r.job.prefix === '0101').map((r) => r.jobId)).toEqual(['provide-0101', 'provide-0101'])
  })

  it('publishes an error result for each failed attempt and retries per attempts', async () => {
    const ns = freshNamespace()
    const q = queue(ns, { backoffMs: 20 })
    await q.enqueue(regionJob('10'))
    let calls = 0
    const { results } = consumer(ns)
    worker(ns, async (job) => {
      calls++
      if (calls < 3) throw new Error(`dht unreachable (call ${calls})`)
      return reportFor(job.prefix)
    })
    await waitFor(() => results.length >= 3, 15_000, 'three results')
    expect(calls).toBe(3)
    expect(results.map((r) => [r.jobId, r.attemptsMade, r.error, r.retrying, r.report?.prefix])).toEqual([
      ['reprovide-10-c1-a0', 0, 'dht unreachable (call 1)', true, undefined],
      ['reprovide-10-c1-a0', 1, 'dht unreachable (call 2)', true, undefined],
      ['reprovide-10-c1-a0', 2, undefined, false, '10']
    ])
  })

  it('fails a job on its last attempt with retrying=false', async () => {
    const ns = freshNamespace()
    const q = queue(ns, { backoffMs: 20 })
    await q.enqueue(regionJob('11', { reason: 'retry', attempt: 2 }))
    const { results } = consumer(ns)
    worker(ns, async () => { throw new Error('no peers') })
    await waitFor(() => results.length >= 3, 15_000, 'three results')
    expect(results.map((r) => r.retrying)).toEqual([true, true, false])
    await waitFor(async () => (await q.state('retry-11-c1-a2')) === 'failed', 5000, 'the job to fail')
  })

  it('does not retry a handler that throws UnrecoverableError', async () => {
    const ns = freshNamespace()
    const q = queue(ns, { backoffMs: 20 })
    await q.enqueue(regionJob('01'))
    let calls = 0
    const { results } = consumer(ns)
    worker(ns, async () => { calls++; throw new UnrecoverableError('prefix is not ours') })
    await waitFor(async () => (await q.state('reprovide-01-c1-a0')) === 'failed', 5000, 'the job to fail')
    await waitFor(() => results.length >= 1, 5000, 'the error result')
    await sleep(200)
    expect(calls).toBe(1)
    expect(results.map((r) => [r.error, r.retrying])).toEqual([['prefix is not ours', false]])
  })

  it('fails invalid job data without retries and never calls the handler', async () => {
    const ns = freshNamespace()
    const raw = new Queue(REGIONS_QUEUE, { connection: { url: redis.url }, prefix: queueKeys(ns).prefix })
    closers.push(() => raw.close())
    await raw.add('reprovide', { ...regionJob('01'), prefix: 'zz' }, { jobId: 'bad-1', attempts: 3 })
    await raw.add('reprovide', { ...regionJob('01'), cycle: -4 }, { jobId: 'bad-2', attempts: 3 })
    const q = queue(ns)
    await q.enqueue(regionJob('00'))
    const ran: RegionJob[] = []
    const { results } = consumer(ns)
    worker(ns, recording(ran))
    await waitFor(() => results.length >= 1, 10_000, 'the valid job result')
    await waitFor(async () => (await q.state('bad-2')) === 'failed', 5000, 'the invalid jobs to fail')
    const bad1 = await raw.getJob('bad-1')
    const bad2 = await raw.getJob('bad-2')
    expect(bad1?.failedReason).toBe("region job: prefix: must be a bit string (only '0' and '1')")
    expect(bad2?.failedReason).toBe('region job: cycle: must be ≥ 0')
    expect(bad1?.attemptsMade).toBe(1)
    expect(ran.map((j) => j.prefix)).toEqual(['00'])
    expect(results).toHaveLength(1)
  })

  it('rejects an invalid job at enqueue', async () => {
    const q = queue(freshNamespace())
    await expect(q.enqueue({ ...regionJob('01'), prefix: '01x' })).rejects.toThrow(/^region job: prefix: /)
    await expect(q.requestProvide('2')).rejects.toThrow(/^region job: prefix: /)
  })
})
