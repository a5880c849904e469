/** A job survives the worker that held it: handed back on a graceful close, recovered after SIGKILL. */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Redis } from 'ioredis'
import { queueKeys, RegionQueue, RegionWorker, regionJobId, type RegionJob } from '../src/index.ts'
import { collectResults, freshNamespace, regionJob, reportFor, startTestRedis, waitFor, type TestRedis } from './helpers.ts'

const NODE = fileURLToPath(new URL('../../../node_modules/.bin/node', import.meta.url))
const HANGING_WORKER = fileURLToPath(new URL('./fixtures/hanging-worker.ts', import.meta.url))

let redis: TestRedis
beforeAll(async () => { redis = await startTestRedis() })
afterAll(async () => { await redis.stop() })

describe('RegionWorker shutdown', () => {
  it('finishes what it can by the deadline and hands the rest back for another worker to run at once', async () => {
    const ns = freshNamespace()
    const queue = new RegionQueue({ redisUrl: redis.url, namespace: ns })
    const { results, consumer } = collectResults(redis.url, ns)
    const stuck = regionJob('0011')
    const quick = regionJob('0100')
    await queue.enqueue(stuck)
    await queue.enqueue(quick)

    const startedOnA: string[] = []
    let abortSeen = false
    let releaseQuick!: () => void
    const quickGate = new Promise<void>((resolve) => { releaseQuick = resolve })
    // Default 30 s lock: if the hand-back failed, the job would sit in 'active' far past this test.
    const a = new RegionWorker({ redisUrl: redis.url, namespace: ns, workerId: 'a', concurrency: 2, settleMs: 300 }, async (job, { signal }) => {
      startedOnA.push(job.prefix)
      signal.addEventListener('abort', () => { abortSeen = true })
      if (job.prefix === quick.prefix) {
        await quickGate
        return reportFor(job.prefix)
      }
      return new Promise<never>(() => { /* ignores its signal: the worker must still let go */ })
    })
    await waitFor(() => a.active === 2, 10_000, 'both jobs to start on worker a')

    const closing = a.close(800)
    setTimeout(releaseQuick, 100)
    expect(await closing).toEqual({ finished: 1, handedBack: 1, unsettled: 1 })
    expect(abortSeen).toBe(true)
    expect(a.active).toBe(0)
    expect(await queue.state(regionJobId(stuck))).toBe('waiting')
    expect(await queue.state(regionJobId(quick))).toBe('completed')

    const ranOnB: RegionJob[] = []
    const b = new RegionWorker({ redisUrl: redis.url, namespace: ns, workerId: 'b', concurrency: 1 }, async (job) => {
      ranOnB.push(job)
      return reportFor(job.prefix, 5)
    })
    await waitFor(() => results.length >= 2, 10_000, 'both results')
    await sleep(300)
    expect(startedOnA.sort()).toEqual(['0011', '0100'])
    expect(ranOnB.map((j) => j.prefix)).toEqual(['0011'])
    expect(results.map((r) => [r.job.prefix, r.worker, r.report?.keys, r.error])).toEqual([
      ['0100', 'a', 10, undefined],
      ['0011', 'b', 5, undefined]
    ])
    expect(results[1].attemptsMade).toBe(0)
    expect(await queue.state(regionJobId(stuck))).toBe('completed')
    await b.close(0)
    await consumer.close()
    await queue.close()
  })

  it('a hand-back waits for the aborted handler to return: the job moves on, and close returns, only then', async () => {
    const ns = freshNamespace()
    const queue = new RegionQueue({ redisUrl: redis.url, namespace: ns })
    const job = regionJob('0101')
    await queue.enqueue(job)
    let handlerReturnedAt = 0
    let stateWhileUnwinding: unknown
    const worker = new RegionWorker({ redisUrl: redis.url, namespace: ns, workerId: 'slow-abort', concurrency: 1 }, async (_job, { signal }) => {
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }))
      // a send in flight when the signal fired takes a moment to unwind
      await sleep(700)
      // no other worker may have it while this run still unwinds
      stateWhileUnwinding = await queue.state(regionJobId(job))
      handlerReturnedAt = Date.now()
      throw signal.reason
    })
    await waitFor(() => worker.active === 1, 10_000, 'the job to start')
    const outcome = await worker.close(100)
    const closedAt = Date.now()
    expect(outcome).toEqual({ finished: 0, handedBack: 1, unsettled: 0 })
    expect(handlerReturnedAt).toBeGreaterThan(0)
    expect(closedAt).toBeGreaterThanOrEqual(handlerReturnedAt)
    expect(stateWhileUnwinding).toBe('active')
    expect(await queue.state(regionJobId(job))).toBe('waiting')
    await queue.close()
  })

  it('re-runs the job of a SIGKILLed worker on another worker once its lock expires', async () => {
    const ns = freshNamespace()
    const queue = new RegionQueue({ redisUrl: redis.url, namespace: ns })
    const { results, consumer } = collectResults(redis.url, ns)
    const job = regionJob('1010')
    await queue.enqueue(job)

    const child = spawn(NODE, [HANGING_WORKER, redis.url, ns, '2000'], { stdio: ['ignore', 'pipe', 'inherit'] })
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)))
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
    await waitFor(() => output.includes(`active ${regionJobId(job)}`), 15_000, 'the child worker to take the job')
    child.kill('SIGKILL')
    expect(await exited).toBe('SIGKILL')
    expect(await queue.state(regionJobId(job))).toBe('active')

    const ran: RegionJob[] = []
    const survivor = new RegionWorker({ redisUrl: redis.url, namespace: ns, workerId: 'survivor', concurrency: 1, lockDurationMs: 2000 }, async (j) => {
      ran.push(j)
      return reportFor(j.prefix)
    })
    await waitFor(() => results.length >= 1, 15_000, 'the recovered job result')
    await sleep(300)
    expect(ran.map((j) => j.prefix)).toEqual(['1010'])
    expect(results).toHaveLength(1)
    expect(results[0]).toMatchObject({ jobId: regionJobId(job), worker: 'survivor', report: { prefix: '1010' } })
    await survivor.close(0)
    await consumer.close()
    await queue.close()
  })
  it('aborts a job whose lock it lost, and publishes nothing for it', async () => {
    const ns = freshNamespace()
    const queue = new RegionQueue({ redisUrl: redis.url, namespace: ns })
    const { results, consumer } = collectResults(redis.url, ns)
    const job = regionJob('0110')
    await queue.enqueue(job)
    let reason: unknown
    const worker = new RegionWorker({ redisUrl: redis.url, namespace: ns, workerId: 'loser', concurrency: 1, lockDurationMs: 1000 }, async (_job, { signal }) => {
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }))
      reason = signal.reason
      return reportFor(job.prefix)
    })
    await waitFor(() => worker.active === 1, 10_000, 'the job to start')
    // what another worker's stalled-job check leaves behind: the lock is no longer ours
    const admin = new Redis(redis.url)
    expect(await admin.del(`${queueKeys(ns).regions}:${regionJobId(job)}:lock`)).toBe(1)
    await waitFor(() => reason !== undefined, 10_000, 'the handler\'s signal to fire')
    expect(String((reason as Error).message)).toBe(`lost the lock of job ${regionJobId(job)}`)
    await sleep(1000)
    expect(results).toEqual([])
    admin.disconnect()
    await worker.close(0)
    await consumer.close()
    await queue.close()
  })
})
