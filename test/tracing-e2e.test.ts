/**
 * One trace across real processes, from the provide request through BullMQ's own queue spans
 * (bullmq-otel) to the worker's sweep, with its lookups, key reads and sends as children, and
 * back through the results queue to the coordinator applying the result, as a real OTLP/HTTP
 * receiver gets them from the Node SDK of each process.
 */
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ClusterFixture } from './lib/cluster.ts'
import { waitUntil } from './lib/processes.ts'

interface ReceivedSpan { service: string; traceId: string; spanId: string; parentSpanId: string; name: string; attributes: Record<string, unknown> }

interface OtlpJson {
  resourceSpans: Array<{
    resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> }
    scopeSpans: Array<{ spans: Array<{ traceId: string; spanId: string; parentSpanId?: string; name: string; attributes?: Array<{ key: string; value: Record<string, unknown> }> }> }>
  }>
}

describe('traces of a provide across real processes', () => {
  const spans: ReceivedSpan[] = []
  let collector: ReturnType<typeof createServer>
  let fixture: ClusterFixture
  let url: string

  beforeAll(async () => {
    collector = createServer((request: IncomingMessage, response) => {
      const chunks: Buffer[] = []
      request.on('data', (chunk: Buffer) => chunks.push(chunk))
      request.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString()) as OtlpJson
        for (const resource of body.resourceSpans) {
          const service = resource.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? ''
          for (const scope of resource.scopeSpans) {
            for (const span of scope.spans) {
              const attributes = Object.fromEntries((span.attributes ?? []).map((a) => [a.key, Object.values(a.value)[0]]))
              spans.push({ service, traceId: span.traceId, spanId: span.spanId, parentSpanId: span.parentSpanId ?? '', name: span.name, attributes })
            }
          }
        }
        response.writeHead(200, { 'content-type': 'application/json' }).end('{}')
      })
    })
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve))
    url = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`
    fixture = await ClusterFixture.start('tracing', 30)
  }, 180_000)
  afterAll(async () => {
    await fixture?.stop()
    await new Promise((resolve) => collector?.close(resolve))
  })

  it('runs one trace from POST /v1/provide through the queue and the worker\'s sweep with its children back to the coordinator\'s result', async () => {
    const cluster = fixture.cluster({
      namespace: 'tracing',
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '200' }
    })
    await cluster.startProvided(500)

    // a provide job's result, with every span from the request down to it in: the chain is whole
    const received = new Map<string, ReceivedSpan>()
    const ancestry = (span: ReceivedSpan): ReceivedSpan[] => {
      const chain = [span]
      while (chain.at(-1)!.parentSpanId !== '' && received.has(chain.at(-1)!.parentSpanId)) chain.push(received.get(chain.at(-1)!.parentSpanId)!)
      return chain
    }
    const chain = await waitUntil('a provide job\'s trace from its request to its result', async () => {
      for (const span of spans) received.set(span.spanId, span)
      const results = spans.filter((s) => s.name === 'region.result' && s.attributes['sweep.reason'] === 'provide')
      return results.map(ancestry).find((c) => c.at(-1)!.parentSpanId === '' && c.at(-1)!.name === 'POST /v1/provide')
    }, 30_000, 250)
    expect(chain.map((s) => `${s.name} [${s.service}]`)).toEqual([
      'region.result [sweep-coordinator]',
      'process results [sweep-coordinator]',
      'add results.result [sweep-worker]',
      'process regions [sweep-worker]',
      'add regions.provide [sweep-coordinator]',
      'region.provide [sweep-coordinator]',
      'POST /v1/provide [sweep-coordinator]'
    ])
    const [result, , , processRegion, , provideSpan, request] = chain
    expect(new Set(chain.map((s) => s.traceId)).size).toBe(1)
    expect(Number(provideSpan.attributes['sweep.requests'])).toBeGreaterThanOrEqual(1)
    expect(request.attributes['http.response.status_code']).toBe(200)
    expect(result.attributes['sweep.prefix']).toBe(provideSpan.attributes['sweep.prefix'])

    // the worker's run: its sweep and the sweep's children, once its sends are in
    const descendants = (root: ReceivedSpan): ReceivedSpan[] => {
      const below = spans.filter((s) => s.parentSpanId === root.spanId)
      return [...below, ...below.flatMap(descendants)]
    }
    const run = await waitUntil('the job\'s sends', async () => {
      const found = descendants(processRegion)
      return found.some((s) => s.name === 'dht.send') ? found : undefined
    }, 30_000, 250)
    const byId = new Map([...chain, ...run].map((s) => [s.spanId, s]))
    const trace = [...byId.values()]
    const parentOf = (span: ReceivedSpan) => byId.get(span.parentSpanId)
    const sweep = run.find((s) => s.name === 'region.sweep' && s.parentSpanId === processRegion.spanId)!
    expect(sweep.service).toBe('sweep-worker')

    const children = trace.filter((s) => parentOf(s) === sweep)
    const names = new Set(children.map((s) => s.name))
    expect(names).toEqual(new Set(['dht.lookup', 'keys.read', 'dht.send']))
    for (const lookup of children.filter((s) => s.name === 'dht.lookup')) expect(Number(lookup.attributes['sweep.peers_found'])).toBeGreaterThan(0)
    const sends = children.filter((s) => s.name === 'dht.send')
    const records = sends.reduce((sum, s) => sum + Number(s.attributes['sweep.records_sent']), 0)
    const keysRead = children.filter((s) => s.name === 'keys.read').reduce((sum, s) => sum + Number(s.attributes['sweep.keys']), 0)
    expect(keysRead).toBeGreaterThan(0)
    // every key read went to about k = 20 peers
    expect(records).toBeGreaterThanOrEqual(keysRead * 15)
    for (const send of sends) expect(send.attributes['sweep.outcome']).toMatch(/^(ok|failed)$/)
    console.log(`trace ${result.traceId}, one job of the request: ${trace.length} spans; ${children.filter((s) => s.name === 'dht.lookup').length} lookups, ${keysRead} keys read, ${sends.length} sends carrying ${records} records\n${treeOf(trace)}`)
    await cluster.stop()
  }, 240_000)
})

/** The trace as an indented tree, runs of same-named siblings folded into one line. */
function treeOf(trace: readonly ReceivedSpan[]): string {
  const lines: string[] = []
  const walk = (parentId: string, depth: number): void => {
    const children = trace.filter((s) => s.parentSpanId === parentId)
    const runs = new Map<string, ReceivedSpan[]>()
    for (const child of children) runs.set(child.name, [...(runs.get(child.name) ?? []), child])
    for (const [name, run] of runs) {
      lines.push(`${'  '.repeat(depth)}${name} [${run[0].service}]${run.length > 1 ? ` ×${run.length}` : ''}`)
      for (const span of run) walk(span.spanId, depth + 1)
    }
  }
  walk('', 0)
  return lines.join('\n')
}
