/**
 * The OpenAPI document against real answers: every operation of real API servers on a real
 * Redis, its successes and its errors, each checked against the document's schema with ajv.
 */
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OPENAPI } from '../src/api/openapi.ts'
import { OPENAPI_FILE, openapiText } from '../src/api/write-openapi.ts'
import { cids, startTestApi, startTestRedis, type TestApi, type TestRedis } from './api-fixture.ts'
import { checked, documentedAnswers, expectDocumented, expectDocumentedType } from './openapi-check.ts'

const TOKEN = 'openapi-test-token'

describe('the OpenAPI document', () => {
  let redis: TestRedis
  let plain: TestApi
  let small: TestApi
  let sharded: TestApi

  /** Calls the API and checks the answer against the document; returns it. */
  async function call<T = Record<string, unknown>>(
    on: TestApi, method: string, path: string, template: string, body?: string, headers: Record<string, string> = {}
  ): Promise<{ status: number; body: T }> {
    const res = await fetch(on.url + path, {
      method, body, headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'text/plain' }), ...headers }
    })
    const answer = { status: res.status, body: await res.json() as T }
    expectDocumented(method, template, answer.status, answer.body)
    return answer
  }

  beforeAll(async () => {
    redis = await startTestRedis('api-openapi')
    plain = await startTestApi(redis.server.url, { namespace: 'openapi', token: TOKEN })
    small = await startTestApi(redis.server.url, { namespace: 'openapi-small', token: TOKEN, maxBodyBytes: 2000 })
    sharded = await startTestApi(redis.server.url, { namespace: 'openapi-sharded', token: TOKEN, shards: 4 })
  })

  afterAll(async () => {
    for (const api of [plain, small, sharded]) await api?.close()
    await redis?.stop()
  })

  it('is served at /v1/openapi.json and kept in docs/openapi.json', async () => {
    const { body } = await call(plain, 'GET', '/v1/openapi.json', '/v1/openapi.json')
    expect(body).toEqual(JSON.parse(JSON.stringify(OPENAPI)))
    expect(readFileSync(OPENAPI_FILE, 'utf8'), 'docs/openapi.json is stale: npm run docs:openapi').toBe(openapiText())
  })

  it('describes every answer of every endpoint, successes and errors', async () => {
    const keys = cids(30, 7)
    // a schedule to describe: a cycle, two regions, a worker, a network estimate, counters
    const fence = (await plain.lease.acquire())!
    await plain.schedule.initCycleStart(Date.now() - 3_600_000)
    await plain.schedule.replaceRegions([], [
      { prefix: '0', lastReprovide: Date.now() - 60_000, lastAttempt: Date.now() - 60_000, outcome: 'ok', failures: 0, keys: 12, peers: 20, recordsSent: 240, lookups: 2, durationMs: 900 },
      { prefix: '1', failures: 0, keys: 0, peers: 0, recordsSent: 0, lookups: 0, durationMs: 0 }
    ], fence)
    await plain.schedule.heartbeat({ id: 'worker-a', lastSeen: Date.now(), peerId: '12D3KooWtest', host: 'box', pid: 42, concurrency: 4, active: 1, bootstrap: [], announce: ['/ip4/127.0.0.1/tcp/4001'], connections: 3 }, 10_000)
    await plain.schedule.setNetwork({ size: 120, prefixLength: 2, measuredAt: Date.now(), by: 'worker-a' })
    await plain.schedule.addCounters({ recordsSent: 240, keysProvided: 12, lookups: 2, regionsOk: 1 })

    const provided = await call<{ added: number; invalidCount: number }>(plain, 'POST', '/v1/provide', '/v1/provide', [...keys.slice(0, 20), 'not-a-cid'].join('\n'))
    expect(provided.body).toMatchObject({ added: 20, invalidCount: 1 })
    await call(plain, 'POST', '/v1/provide?once=1', '/v1/provide', keys.slice(20).join('\n'))
    expect((await call(plain, 'POST', '/v1/stop', '/v1/stop', keys.slice(0, 2).join('\n'))).body).toMatchObject({ removed: 2 })
    const stats = await call<{ keys: { total: number; regions: number }; workers: unknown[] }>(plain, 'GET', '/v1/stats', '/v1/stats')
    expect(stats.body.keys).toMatchObject({ total: 28, regions: 2 })
    expect(stats.body.workers).toHaveLength(1)
    expect((await call(plain, 'GET', `/v1/cids/${keys[5]}`, '/v1/cids/{cid}')).body).toMatchObject({ stored: true, region: expect.stringMatching(/^[01]$/) })
    expect((await call(plain, 'GET', '/v1/cids/bafy-not-a-cid', '/v1/cids/{cid}')).status).toBe(400)
    expect((await call<{ cids: string[] }>(plain, 'GET', '/v1/sample?n=5', '/v1/sample')).body.cids).toHaveLength(5)
    expect((await call(plain, 'GET', '/v1/sample?n=0', '/v1/sample')).status).toBe(400)
    expect((await call(plain, 'POST', '/v1/sweep', '/v1/sweep')).status).toBe(202)
    const dashboard = await call<{ regions: unknown[]; stats: { keys: { total: number } } }>(plain, 'GET', '/v1/dashboard', '/v1/dashboard')
    expect(dashboard.body.regions).toHaveLength(2)
    expect(dashboard.body.stats.keys.total).toBe(28)
    await checkDashboardPage(plain)

    expect((await call(plain, 'PUT', '/v1/reprovide-set', '/v1/reprovide-set', keys.slice(0, 10).join('\n'))).body).toMatchObject({ total: 10 })
    expect((await call(plain, 'PUT', '/v1/reprovide-set', '/v1/reprovide-set', '# nothing\n')).status).toBe(400)
    const opened = await call<{ upload: string }>(plain, 'POST', '/v1/reprovide-set/uploads', '/v1/reprovide-set/uploads')
    expect(opened.status).toBe(201)
    const id = opened.body.upload
    expect((await call(plain, 'POST', '/v1/reprovide-set/uploads', '/v1/reprovide-set/uploads')).status).toBe(409)
    expect((await call(plain, 'POST', `/v1/reprovide-set/uploads/${id}`, '/v1/reprovide-set/uploads/{id}', keys.slice(0, 4).join('\n'))).body).toMatchObject({ accepted: 4 })
    expect((await call(plain, 'POST', `/v1/reprovide-set/uploads/${id}/commit`, '/v1/reprovide-set/uploads/{id}/commit')).body).toEqual({ total: 4 })
    expect((await call(plain, 'DELETE', `/v1/reprovide-set/uploads/${id}`, '/v1/reprovide-set/uploads/{id}')).status).toBe(404)
    expect((await call(plain, 'POST', `/v1/reprovide-set/uploads/${id}`, '/v1/reprovide-set/uploads/{id}', keys[0])).status).toBe(404)
    expect((await call(plain, 'POST', `/v1/reprovide-set/uploads/${id}/commit`, '/v1/reprovide-set/uploads/{id}/commit')).status).toBe(404)
    const another = (await call<{ upload: string }>(plain, 'POST', '/v1/reprovide-set/uploads', '/v1/reprovide-set/uploads')).body.upload
    expect((await call(plain, 'PUT', '/v1/reprovide-set', '/v1/reprovide-set', keys[0])).status).toBe(409)
    expect((await call(plain, 'DELETE', `/v1/reprovide-set/uploads/${another}`, '/v1/reprovide-set/uploads/{id}')).body).toEqual({ aborted: true })

    // the same error shape from the guards in front of every endpoint
    expect((await call(plain, 'GET', '/v1/stats', '/v1/stats', undefined, { authorization: 'Bearer wrong' })).status).toBe(401)
    expect((await call(plain, 'GET', '/v1/stats', '/v1/stats', undefined, { origin: 'http://evil.example' })).status).toBe(403)
    const big = cids(200, 8).join('\n')
    expect((await call(small, 'POST', '/v1/provide', '/v1/provide', big)).status).toBe(413)
    expect((await call(small, 'POST', '/v1/stop', '/v1/stop', big)).status).toBe(413)
    expect((await call(small, 'PUT', '/v1/reprovide-set', '/v1/reprovide-set', big)).status).toBe(413)
    const upload = (await call<{ upload: string }>(small, 'POST', '/v1/reprovide-set/uploads', '/v1/reprovide-set/uploads')).body.upload
    expect((await call(small, 'POST', `/v1/reprovide-set/uploads/${upload}`, '/v1/reprovide-set/uploads/{id}', big)).status).toBe(413)
    expect((await call(sharded, 'PUT', '/v1/reprovide-set', '/v1/reprovide-set', keys[0])).status).toBe(501)
    expect((await call(sharded, 'POST', '/v1/reprovide-set/uploads', '/v1/reprovide-set/uploads')).status).toBe(501)

    // every success of every endpoint, and every error but a 500 or the guards' on each path, was seen
    const unseen = documentedAnswers().filter((answer) => !checked.has(answer) && !/ (400|401|403|500)$/.test(answer))
    expect(unseen).toEqual([])
    for (const endpoint of Object.keys(OPENAPI.paths)) expect([...checked].some((answer) => answer.includes(` ${endpoint} 2`)), endpoint).toBe(true)
  })

  /** The dashboard's answers that are not JSON: the page, the token redirect, its files, the event stream. */
  async function checkDashboardPage(on: TestApi): Promise<void> {
    const auth = { authorization: `Bearer ${TOKEN}` }
    const page = await fetch(`${on.url}/`, { headers: auth })
    expectDocumentedType('GET', '/', page.status, page.headers.get('content-type') ?? undefined)
    expect(await page.text()).toContain('data-testid="ring"')
    const redirect = await fetch(`${on.url}/?token=${TOKEN}`, { redirect: 'manual' })
    expectDocumentedType('GET', '/', redirect.status, redirect.headers.get('content-type') ?? undefined)
    expect(redirect.headers.get('location')).toBe('/')
    const cookie = redirect.headers.get('set-cookie')!.split(';')[0]
    for (const [name, type] of [['app.js', 'text/javascript'], ['style.css', 'text/css']]) {
      const file = await fetch(`${on.url}/dashboard/${name}`, { headers: { cookie } })
      expectDocumentedType('GET', '/dashboard/{file}', file.status, file.headers.get('content-type') ?? undefined)
      expect(file.headers.get('content-type')).toContain(type)
    }
    const missing = await fetch(`${on.url}/dashboard/nothing.js`, { headers: { cookie } })
    expectDocumented('GET', '/dashboard/{file}', missing.status, await missing.json())
    expect(missing.status).toBe(404)
    const events = await fetch(`${on.url}/v1/events`, { headers: { cookie } })
    expectDocumentedType('GET', '/v1/events', events.status, events.headers.get('content-type') ?? undefined)
    const reader = events.body!.getReader()
    let received = ''
    const complete = (): boolean => received.includes('event: snapshot') && received.includes('\n\n', received.indexOf('event: snapshot'))
    while (!complete()) received += new TextDecoder().decode((await reader.read()).value)
    await reader.cancel()
    const data = JSON.parse(/^data: (.*)$/m.exec(received)![1]) as unknown
    expectDocumented('GET', '/v1/dashboard', 200, data)
    // the cookie opens GETs only: a write still needs the header
    const write = await fetch(`${on.url}/v1/sweep`, { method: 'POST', headers: { cookie } })
    expect(write.status).toBe(401)
    expect((await fetch(`${on.url}/`)).status).toBe(401)
    expect((await fetch(`${on.url}/?token=wrong`, { redirect: 'manual' })).status).toBe(401)
  }

  it('fails a body that does not match, naming the field', () => {
    expect(() => expectDocumented('GET', '/v1/sample', 200, { cids: [1] })).toThrow(/\/cids\/0 must be string/)
    expect(() => expectDocumented('GET', '/v1/stats', 418, {})).toThrow(/answered 418, which the document does not list/)
    expect(() => expectDocumented('POST', '/v1/provide', 200, { accepted: 1, invalid: [], invalidCount: 0, added: 1, duplicates: 0, dirtyBuckets: 1, extra: true }))
      .toThrow(/must NOT have additional properties/)
  })
})
