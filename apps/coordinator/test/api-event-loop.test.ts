/**
 * Bad input must not hold the event loop: the lease renewal and every other request share
 * it. A real coordinator (leader, 5 s lease) on a real Redis, in this process, so the loop
 * that is measured is the server's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import pino from 'pino'
import { defaultCoordinatorConfig, startCoordinator, type Coordinator } from '../src/index.ts'
import { MAX_CID_CHARS } from '../src/api/cid-lines.ts'
import { api, cids, postRaw, startTestRedis, type TestRedis } from './api-fixture.ts'

const MAX_BODY = 64 * 1024 * 1024

interface Tally { accepted: number; invalidCount: number; invalid: Array<{ line: number; error: string }>; added?: number }

/** CPU time of this thread in ms: unlike wall time, it does not count the time other processes had the cores. */
function threadCpuMs(): number {
  const usage = process.threadCpuUsage()
  return (usage.user + usage.system) / 1000
}

/**
 * Sends a request while GET /v1/stats is timed over and over. Returns its slowest answer and
 * the longest the event loop ran without a turn, measured as this thread's CPU time between
 * the ticks of a 1 ms timer: on this shared 2-core machine (load 8 while other tests run) wall
 * time mostly measures the other processes, while CPU time between ticks is what one request
 * holds the loop for.
 */
async function whileStatsPolled(url: string, send: () => Promise<Response>): Promise<{ response: Response; slowestStatsMs: number; statsAnswers: number; longestTurnCpuMs: number }> {
  let last = threadCpuMs()
  let longest = 0
  const ticker = setInterval(() => {
    const now = threadCpuMs()
    longest = Math.max(longest, now - last)
    last = now
  }, 1)
  let done = false
  let slowest = 0
  let answers = 0
  const poll = (async () => {
    while (!done) {
      const t0 = performance.now()
      const res = await fetch(`${url}/v1/stats`)
      expect(res.status).toBe(200)
      await res.json()
      slowest = Math.max(slowest, performance.now() - t0)
      answers++
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  })()
  try {
    const response = await send()
    await response.clone().arrayBuffer()
    return { response, slowestStatsMs: slowest, statsAnswers: answers, longestTurnCpuMs: longest }
  } finally {
    done = true
    await poll
    clearInterval(ticker)
  }
}

describe('the API under hostile bodies', () => {
  let redis: TestRedis
  let coordinator: Coordinator

  beforeAll(async () => {
    redis = await startTestRedis('api-event-loop')
    coordinator = await startCoordinator({
      ...defaultCoordinatorConfig, redisUrl: redis.server.url, namespace: 'event-loop', maxBodyBytes: MAX_BODY,
      api: { host: '127.0.0.1', port: 0 }, metrics: { host: '127.0.0.1', port: 0 }
    }, pino({ level: 'silent' }))
    const deadline = Date.now() + 15_000
    while (!coordinator.isLeader() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
    expect(coordinator.isLeader()).toBe(true)
  })

  afterAll(async () => {
    await coordinator?.stop()
    await redis?.stop()
  })

  // first, while the process has no freed memory for the request to reuse unseen
  it('parses a JSON body of the largest size as it arrives: memory grows by less than 2× the body', async () => {
    // entries that are refused at once, so what is measured is the body's parsing, not the keystore's writes
    const entry = `"${'x'.repeat(60)}",`
    const count = Math.floor((MAX_BODY - 100) / entry.length)
    // filled in place: a 64 MiB string built first would leave freed memory for the server to reuse unseen
    const body = Buffer.concat([Buffer.from('{"cids": ['), Buffer.alloc((count - 1) * entry.length, entry), Buffer.from(`"${'x'.repeat(60)}"]}`)])
    expect(body.length).toBeLessThanOrEqual(MAX_BODY)
    expect(body.length).toBeGreaterThan(MAX_BODY * 0.99)
    const baseline = process.memoryUsage.rss()
    let peak = baseline
    const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage.rss()) }, 5)
    try {
      const res = await postRaw(coordinator.apiUrl, '/v1/provide', 'application/json', body)
      expect(res.status).toBe(200)
      expect(res.body).toMatchObject({ accepted: 0, invalidCount: count })
    } finally {
      clearInterval(sampler)
    }
    const growth = peak - baseline
    console.log(`${(body.length / 2 ** 20).toFixed(1)} MiB JSON body: RSS grew ${(growth / 2 ** 20).toFixed(1)} MiB`)
    expect(growth).toBeLessThan(2 * body.length)
  })

  it('refuses a 1 MiB base58 line by its length, keeps the lines around it, and keeps answering and leading', async () => {
    const [before, after] = cids(2, 1)
    const long = `Qm${'1'.repeat(1024 * 1024)}`
    const run = await whileStatsPolled(coordinator.apiUrl, () => fetch(`${coordinator.apiUrl}/v1/provide`, {
      method: 'POST', headers: { 'content-type': 'text/plain' }, body: `${before}\n${long}\n${after}\n`
    }))
    console.log(`1 MiB line: slowest GET /v1/stats ${run.slowestStatsMs.toFixed(0)} ms of ${run.statsAnswers}, longest loop turn ${run.longestTurnCpuMs.toFixed(1)} ms CPU`)
    expect(run.response.status).toBe(200)
    const tally = await run.response.json() as Tally
    expect(tally).toMatchObject({ accepted: 2, added: 2, invalidCount: 1 })
    expect(tally.invalid[0]).toMatchObject({ line: 2, error: `${long.length} characters long; a CID is at most ${MAX_CID_CHARS}, so it was not decoded` })
    // room for a garbage collection landing in one turn, as in the JSON test below
    expect(run.longestTurnCpuMs).toBeLessThan(100)
    // wall time, so with room for a loaded machine; before the fix this took seconds (minutes for the 1 MiB line)
    expect(run.slowestStatsMs).toBeLessThan(1000)
    expect(coordinator.isLeader()).toBe(true)
    expect((await api<{ leader: { id: string } }>(coordinator.apiUrl, '/v1/stats')).body.leader.id).toBe(coordinator.id)
  })

  it('answers a JSON body of a million bad entries with per-entry errors, without stalling, and keeps leading', async () => {
    const body = `{"cids": [${'"x",'.repeat(999_999)}"x"]}`
    const t0 = performance.now()
    const run = await whileStatsPolled(coordinator.apiUrl, () => fetch(`${coordinator.apiUrl}/v1/provide`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body
    }))
    const elapsed = performance.now() - t0
    console.log(`1M bad JSON entries (${(body.length / 1e6).toFixed(1)} MB): answered in ${elapsed.toFixed(0)} ms; slowest GET /v1/stats ${run.slowestStatsMs.toFixed(0)} ms of ${run.statsAnswers}, longest loop turn ${run.longestTurnCpuMs.toFixed(1)} ms CPU`)
    expect(run.response.status).toBe(200)
    const tally = await run.response.json() as Tally
    expect(tally).toMatchObject({ accepted: 0, invalidCount: 1_000_000 })
    expect(tally.invalid).toHaveLength(100)
    expect(tally.invalid[99]).toMatchObject({ line: 100, error: expect.stringContaining('not a CID') })
    // a collection of the 4 MB body's garbage can land in one turn (50.2 ms once in CI, 10-25
    // typical); the stall this guards against took 10.8 s
    expect(run.longestTurnCpuMs).toBeLessThan(100)
    // wall time, so with room for a loaded machine; before the fix this took seconds (minutes for the 1 MiB line)
    expect(run.slowestStatsMs).toBeLessThan(1000)
    expect(elapsed).toBeLessThan(10_000)
    expect(coordinator.isLeader()).toBe(true)
  })

})
