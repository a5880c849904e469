/**
 * Chunked reset uploads live in Redis: they outlast the keystore's reset lock TTL while chunks
 * keep coming, any coordinator takes the next chunk, and a second reset is told which upload
 * is open. Two real API servers on one real Redis, with short TTLs standing in for 60 s / 15 min.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, cids, startTestApi, startTestRedis, type TestApi, type TestRedis } from './api-fixture.ts'

/** Stands in for the keystore's 60 s reset lock. */
const RESET_LOCK_TTL_MS = 1000
/** Stands in for the 15 min idle limit of an upload. */
const UPLOAD_IDLE_MS = 4000

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function post(url: string, path: string, body?: string) {
  return api(url, path, { method: 'POST', headers: { 'content-type': 'text/plain' }, body })
}

describe('chunked reset uploads', () => {
  let redis: TestRedis
  let a: TestApi
  let b: TestApi
  const stored = async (cid: string) => (await api<{ stored: boolean }>(a.url, `/v1/cids/${cid}`)).body.stored
  const total = async () => (await api<{ keys: { total: number } }>(a.url, '/v1/stats')).body.keys.total

  beforeAll(async () => {
    redis = await startTestRedis('api-uploads')
    const options = { namespace: 'uploads', resetLockTtlMs: RESET_LOCK_TTL_MS, uploadIdleMs: UPLOAD_IDLE_MS }
    a = await startTestApi(redis.server.url, options)
    b = await startTestApi(redis.server.url, options)
  })

  afterAll(async () => {
    await a?.close()
    await b?.close()
    await redis?.stop()
  })

  it('takes a chunk after the reset lock TTL, on another coordinator, refuses a second reset naming the upload (409), and commits there', async () => {
    const old = cids(10, 1)
    expect((await post(a.url, '/v1/provide', old.join('\n'))).status).toBe(200)
    const [first, second] = [cids(100, 2), cids(100, 3)]

    const opened = await post(a.url, '/v1/reprovide-set/uploads')
    expect(opened.status).toBe(201)
    const id = String(opened.body.upload)
    expect((await post(a.url, `/v1/reprovide-set/uploads/${id}`, first.join('\n'))).body).toMatchObject({ accepted: 100 })
    await sleep(RESET_LOCK_TTL_MS * 2.5)

    const chunk = await post(b.url, `/v1/reprovide-set/uploads/${id}`, [...second, 'oops'].join('\n'))
    expect(chunk.status).toBe(200)
    expect(chunk.body).toMatchObject({ accepted: 100, invalidCount: 1, invalid: [{ line: 101, input: 'oops' }] })

    const put = await api(b.url, '/v1/reprovide-set', { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: cids(3, 4).join('\n') })
    expect(put.status).toBe(409)
    expect(put.body.error).toContain(id)
    const another = await post(a.url, '/v1/reprovide-set/uploads')
    expect(another.status).toBe(409)
    expect(another.body.error).toContain(id)
    // nothing is visible before the commit
    expect(await total()).toBe(10)

    const committed = await post(b.url, `/v1/reprovide-set/uploads/${id}/commit`)
    expect(committed).toEqual({ status: 200, body: { total: 200 } })
    expect(await total()).toBe(200)
    expect(await stored(first[0])).toBe(true)
    expect(await stored(second[99])).toBe(true)
    expect(await stored(old[0])).toBe(false)
    expect((await post(a.url, `/v1/reprovide-set/uploads/${id}`, first[0])).status).toBe(404)
  })

  it('aborts an upload idle past its limit, on whichever coordinator sweeps first, and frees the reset', async () => {
    const before = await total()
    const { body: { upload: id } } = await post(b.url, '/v1/reprovide-set/uploads')
    expect((await post(b.url, `/v1/reprovide-set/uploads/${String(id)}`, cids(50, 5).join('\n'))).body).toMatchObject({ accepted: 50 })
    await sleep(UPLOAD_IDLE_MS + 2000)
    const late = await post(a.url, `/v1/reprovide-set/uploads/${String(id)}`, cids(1, 6)[0])
    expect(late.status).toBe(404)
    expect(late.body.error).toContain('idle')
    expect(await total()).toBe(before)
    const next = await post(a.url, '/v1/reprovide-set/uploads')
    expect(next.status).toBe(201)
    expect((await api(a.url, `/v1/reprovide-set/uploads/${String(next.body.upload)}`, { method: 'DELETE' })).status).toBe(200)
  }, 20_000)

  it('refuses to empty the set unless asked by name (allowEmpty=1), for a PUT and for an upload', async () => {
    const before = await total()
    const put = (query: string, body: string) => api(a.url, `/v1/reprovide-set${query}`, { method: 'PUT', headers: { 'content-type': 'text/plain' }, body })
    const typos = await put('', 'not-a-cid\nbafy-typo\n')
    expect(typos.status).toBe(400)
    expect(typos.body.error).toContain('allowEmpty=1')
    expect((await put('', '')).status).toBe(400)
    expect(await total()).toBe(before)

    const { body: { upload: id } } = await post(a.url, '/v1/reprovide-set/uploads')
    expect((await post(b.url, `/v1/reprovide-set/uploads/${String(id)}`, 'typo')).body).toMatchObject({ accepted: 0, invalidCount: 1 })
    const commit = await post(b.url, `/v1/reprovide-set/uploads/${String(id)}/commit`)
    expect(commit.status).toBe(400)
    expect(commit.body.error).toContain('allowEmpty=1')
    expect(await total()).toBe(before)
    expect(await post(b.url, `/v1/reprovide-set/uploads/${String(id)}/commit?allowEmpty=1`)).toEqual({ status: 200, body: { total: 0 } })
    expect(await total()).toBe(0)

    expect((await put('?allowEmpty=1', '')).body).toMatchObject({ accepted: 0, total: 0 })
  })
})
