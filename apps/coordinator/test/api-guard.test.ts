/**
 * Who may use the API: a tokenless coordinator only on loopback (unless told otherwise),
 * never a web page (Origin) nor a DNS-rebound name (Host). Real servers, real HTTP, and the
 * real `sweep coordinator` bin for the start-up refusal.
 */
import { spawn } from 'node:child_process'
import { request } from 'node:http'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, cids, startTestApi, startTestRedis, type TestApi, type TestRedis } from './api-fixture.ts'

const SWEEP_BIN = fileURLToPath(new URL('../../cli/bin/sweep.js', import.meta.url))

/** A request with the Host and Origin a browser would send; fetch won't let a caller set Host. */
function send(url: string, path: string, headers: Record<string, string>, body = ''): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(url + path, { method: 'POST', headers: { 'content-type': 'text/plain', ...headers } }, (res) => {
      let text = ''
      res.on('data', (chunk: Buffer) => { text += chunk.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

async function total(server: TestApi): Promise<number> {
  return (await api<{ keys: { total: number } }>(server.url, '/v1/stats')).body.keys.total
}

describe('a tokenless API on loopback', () => {
  let redis: TestRedis
  let server: TestApi
  const kept = cids(5, 7)

  beforeAll(async () => {
    redis = await startTestRedis('api-guard')
    server = await startTestApi(redis.server.url, { namespace: 'guard' })
    expect((await send(server.url, '/v1/provide', {}, kept.join('\n'))).status).toBe(200)
  })

  afterAll(async () => {
    await server?.close()
    await redis?.stop()
  })

  it('refuses a web page (foreign Origin) and a DNS-rebound name (foreign Host) with 403, and changes nothing', async () => {
    const port = new URL(server.url).port
    const page = await send(server.url, '/v1/stop', { origin: 'http://evil.example', host: 'evil.example' }, kept.join('\n'))
    expect(page.status).toBe(403)
    const rebound = await send(server.url, '/v1/stop', { host: `evil.example:${port}` }, kept.join('\n'))
    expect(rebound.status).toBe(403)
    expect(rebound.body.error).toContain('evil.example')
    const foreignOrigin = await send(server.url, '/v1/stop', { origin: 'http://evil.example' }, kept.join('\n'))
    expect(foreignOrigin.status).toBe(403)
    expect(foreignOrigin.body.error).toContain('http://evil.example')
    const nullOrigin = await send(server.url, '/v1/stop', { origin: 'null' }, kept.join('\n'))
    expect(nullOrigin.status).toBe(403)
    expect(await total(server)).toBe(5)
  })

  it('answers the loopback names, with or without port, and its own Origin', async () => {
    const port = new URL(server.url).port
    for (const host of ['localhost', `localhost:${port}`, `127.0.0.1:${port}`, '[::1]', `[::1]:${port}`, 'LOCALHOST']) {
      expect((await send(server.url, '/v1/provide', { host }, kept[0])).status, host).toBe(200)
    }
    expect((await send(server.url, '/v1/provide', { origin: server.url }, kept[0])).status).toBe(200)
    expect((await send(server.url, '/v1/stop', {}, kept[0])).body).toMatchObject({ removed: 1 })
    expect(await total(server)).toBe(4)
  })
})

describe('an API with a token', () => {
  let redis: TestRedis
  let server: TestApi

  beforeAll(async () => {
    redis = await startTestRedis('api-guard-token')
    server = await startTestApi(redis.server.url, { namespace: 'guard-token', token: 's3cret' })
  })

  afterAll(async () => {
    await server?.close()
    await redis?.stop()
  })

  it('takes any Host with the token, still refuses web pages, and refuses anyone without it', async () => {
    const [cid] = cids(1, 8)
    expect((await send(server.url, '/v1/provide', { host: 'sweep.internal:8080', authorization: 'Bearer s3cret' }, cid)).status).toBe(200)
    expect((await send(server.url, '/v1/provide', { origin: 'http://evil.example', authorization: 'Bearer s3cret' }, cid)).status).toBe(403)
    expect((await send(server.url, '/v1/provide', { host: 'sweep.internal:8080' }, cid)).status).toBe(401)
  })
})

/** Runs `sweep coordinator ...` until it logs that it started (then stops it) or exits. */
function runCoordinator(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<{ started: boolean; code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SWEEP_BIN, 'coordinator', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SWEEP_API_TOKEN: '', ...env }
    })
    let output = ''
    let stderr = ''
    let started = false
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString()
      if (!started && output.includes('coordinator started')) {
        started = true
        child.kill('SIGTERM')
      }
    })
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    child.once('error', reject)
    child.once('close', (code) => resolve({ started, code, stderr }))
  })
}

describe('sweep coordinator on a non-loopback address', () => {
  let redis: TestRedis

  beforeAll(async () => { redis = await startTestRedis('api-guard-cli') })
  afterAll(async () => { await redis?.stop() })

  it('refuses to start without a token, naming the address and both ways out; starts with either', async () => {
    const base = ['--redis', redis.server.url, '--namespace', 'guard-cli', '--metrics', '127.0.0.1:0']
    const refused = await runCoordinator([...base, '--api', '0.0.0.0:0'])
    expect(refused.started).toBe(false)
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain('0.0.0.0')
    expect(refused.stderr).toContain('--api-token')
    expect(refused.stderr).toContain('--insecure-no-token')
    expect((await runCoordinator([...base, '--api', '0.0.0.0:0', '--insecure-no-token'])).started).toBe(true)
    expect((await runCoordinator([...base, '--api', '0.0.0.0:0'], { SWEEP_API_TOKEN: 's3cret' })).started).toBe(true)
    expect((await runCoordinator([...base, '--api', '127.0.0.1:0'])).started).toBe(true)
  }, 90_000)
})
