/** The ops port over real HTTP: metrics text, liveness and readiness. */
import { afterEach, describe, expect, it } from 'vitest'
import { createMetrics, parseHostPort, startOpsServer, type OpsServer } from '../src/index.ts'

const servers: OpsServer[] = []
afterEach(async () => {
  while (servers.length > 0) await servers.pop()!.close()
})

async function get(url: string, init?: RequestInit): Promise<{ status: number; body: string; type: string | null }> {
  const response = await fetch(url, init)
  return { status: response.status, body: await response.text(), type: response.headers.get('content-type') }
}

describe('startOpsServer', () => {
  it('serves metrics, and readyz flips from 503 to 200', async () => {
    const metrics = createMetrics('coordinator')
    metrics.recordsSent.inc(5)
    let reason: string | true = 'no leader lease yet'
    const server = await startOpsServer({ host: '127.0.0.1', port: 0, registry: metrics.registry, ready: () => reason })
    servers.push(server)
    expect(server.port).toBeGreaterThan(0)
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`)

    const scraped = await get(`${server.url}/metrics`)
    expect(scraped.status).toBe(200)
    expect(scraped.type).toContain('text/plain')
    expect(scraped.body).toContain('sweep_records_sent_total{role="coordinator"} 5')
    expect(scraped.body).toMatch(/^sweep_process_resident_memory_bytes\{role="coordinator"\} \d+/m)

    expect(await get(`${server.url}/readyz`)).toMatchObject({ status: 503, body: 'not ready: no leader lease yet\n' })
    reason = true
    expect(await get(`${server.url}/readyz`)).toMatchObject({ status: 200, body: 'ready\n' })
    expect(await get(`${server.url}/healthz`)).toMatchObject({ status: 200, body: 'ok\n' })
    expect((await get(`${server.url}/nope`)).status).toBe(404)
    expect((await get(`${server.url}/metrics`, { method: 'POST' })).status).toBe(405)
  })

  it('reports unhealthy and a readiness check that throws as 503', async () => {
    let healthy = true
    const server = await startOpsServer({
      host: '127.0.0.1', port: 0, registry: createMetrics('worker').registry,
      ready: async () => { throw new Error('redis: connection refused') },
      health: () => healthy
    })
    servers.push(server)
    expect(await get(`${server.url}/readyz`)).toMatchObject({ status: 503, body: 'not ready: redis: connection refused\n' })
    expect((await get(`${server.url}/healthz`)).status).toBe(200)
    healthy = false
    expect(await get(`${server.url}/healthz`)).toMatchObject({ status: 503, body: 'unhealthy\n' })
  })

  it('fails to start on a port that is taken, naming the address', async () => {
    const first = await startOpsServer({ host: '127.0.0.1', port: 0, registry: createMetrics('worker').registry, ready: () => true })
    servers.push(first)
    await expect(startOpsServer({ host: '127.0.0.1', port: first.port, registry: createMetrics('worker').registry, ready: () => true }))
      .rejects.toThrow(/EADDRINUSE/)
  })
})

describe('parseHostPort', () => {
  it.each([
    ['127.0.0.1:9464', { host: '127.0.0.1', port: 9464 }],
    [':9464', { host: '0.0.0.0', port: 9464 }],
    ['9464', { host: '0.0.0.0', port: 9464 }],
    ['metrics.local:0', { host: 'metrics.local', port: 0 }],
    ['[::1]:8080', { host: '::1', port: 8080 }]
  ])('parses %s', (text, expected) => {
    expect(parseHostPort(text, '--metrics')).toEqual(expected)
  })

  it.each([
    ['', /^--metrics: expected HOST:PORT, :PORT or PORT, got ""/],
    ['localhost', /^--metrics: expected HOST:PORT, :PORT or PORT, got "localhost"/],
    ['127.0.0.1:', /^--api: .*port "" is not a number/],
    ['127.0.0.1:http', /^--api: .*port "http" is not a number/],
    ['127.0.0.1:70000', /^--api: port must be 0-65535, got 70000/],
    ['::1:80', /^--api: expected HOST:PORT/],
    ['a b:80', /^--api: .*bad host "a b"/]
  ])('rejects %j', (text, message) => {
    expect(() => parseHostPort(text, message.source.includes('api') ? '--api' : '--metrics')).toThrow(message)
  })
})
