/** Trace context crosses the queue in a job's carrier; spans are exported in-memory or over OTLP/HTTP. */
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import {
  context, extractTrace, initTracing, injectTrace, inSpan, InMemorySpanExporter, ROOT_CONTEXT, trace, type Tracing
} from '../src/index.ts'

let tracing: Tracing | undefined
afterEach(async () => {
  await tracing?.shutdown()
  tracing = undefined
})

describe('trace propagation', () => {
  it('a span extracted from a carrier on the other side is a child of the injecting span', async () => {
    const exporter = new InMemorySpanExporter()
    tracing = initTracing('sweep-test', { exporter, env: {} })
    expect(tracing.exporting).toBe(true)

    // coordinator side
    const enqueue = tracing.tracer.startSpan('enqueue region')
    const carrier = injectTrace(trace.setSpan(ROOT_CONTEXT, enqueue))
    enqueue.end()
    expect(Object.keys(carrier)).toEqual(['traceparent'])
    expect(carrier.traceparent).toBe(`00-${enqueue.spanContext().traceId}-${enqueue.spanContext().spanId}-01`)

    // worker side: the carrier went through Redis as JSON
    const parent = extractTrace(JSON.parse(JSON.stringify(carrier)) as Record<string, string>)
    await inSpan(tracing.tracer, 'sweep region', { parent, attributes: { prefix: '0101' } }, async () => {
      await new Promise((resolve) => setTimeout(resolve, 5))
      // the active context follows the await: a nested span finds its parent by itself
      tracing!.tracer.startSpan('send records').end()
    })

    const spans = exporter.getFinishedSpans()
    const byName = new Map(spans.map((s) => [s.name, s]))
    expect([...byName.keys()].sort()).toEqual(['enqueue region', 'send records', 'sweep region'])
    const root = byName.get('enqueue region')!
    const child = byName.get('sweep region')!
    const grandchild = byName.get('send records')!
    expect(child.spanContext().traceId).toBe(root.spanContext().traceId)
    expect(child.parentSpanContext?.spanId).toBe(root.spanContext().spanId)
    expect(child.parentSpanContext?.isRemote).toBe(true)
    expect(child.attributes).toEqual({ prefix: '0101' })
    expect(grandchild.spanContext().traceId).toBe(root.spanContext().traceId)
    expect(grandchild.parentSpanContext?.spanId).toBe(child.spanContext().spanId)
    expect(child.resource.attributes['service.name']).toBe('sweep-test')
  })

  it('records a throw on the span and rethrows it', async () => {
    const exporter = new InMemorySpanExporter()
    tracing = initTracing('sweep-test', { exporter, env: {} })
    await expect(inSpan(tracing.tracer, 'explore', {}, async () => { throw new Error('no peers') })).rejects.toThrow('no peers')
    const [span] = exporter.getFinishedSpans()
    expect(span.status).toEqual({ code: 2, message: 'no peers' })
    expect(span.events.map((e) => e.name)).toEqual(['exception'])
  })

  it('without an exporter, spans are not recorded but trace ids still flow', async () => {
    tracing = initTracing('sweep-test', { env: {} })
    expect(tracing.exporting).toBe(false)
    const span = tracing.tracer.startSpan('enqueue region')
    expect(span.isRecording()).toBe(false)
    const carrier = context.with(trace.setSpan(context.active(), span), () => injectTrace())
    expect(carrier.traceparent).toMatch(new RegExp(`^00-${span.spanContext().traceId}-[0-9a-f]{16}-00$`))

    // A sampled parent from elsewhere keeps its trace id through this process.
    const upstream = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
    const child = tracing.tracer.startSpan('sweep region', {}, extractTrace({ traceparent: upstream }))
    const forwarded = injectTrace(trace.setSpan(ROOT_CONTEXT, child))
    expect(forwarded.traceparent).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/)
    expect(forwarded.traceparent).not.toContain('00f067aa0ba902b7')
  })

  it('binds a callback to a context, for callbacks that run outside the awaited chain', async () => {
    tracing = initTracing('sweep-test', { exporter: new InMemorySpanExporter(), env: {} })
    const span = tracing.tracer.startSpan('job')
    const bound = context.bind(trace.setSpan(ROOT_CONTEXT, span), () => trace.getSpan(context.active()))
    const seen = await new Promise((resolve) => setImmediate(() => resolve(bound())))
    expect(seen).toBe(span)
    expect(trace.getSpan(context.active())).toBeUndefined()
    span.end()
  })

  it('injects nothing from an empty context and extracts the root context from a missing carrier', () => {
    expect(injectTrace(ROOT_CONTEXT)).toEqual({})
    expect(trace.getSpanContext(extractTrace(undefined))).toBeUndefined()
    expect(trace.getSpanContext(extractTrace({ traceparent: 'garbage' }))).toBeUndefined()
  })

  it('exports over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set', async () => {
    const received: Array<{ url: string; body: string }> = []
    const collector = createServer((request: IncomingMessage, response) => {
      let body = ''
      request.on('data', (chunk: Buffer) => { body += chunk.toString() })
      request.on('end', () => {
        received.push({ url: request.url ?? '', body })
        response.writeHead(200, { 'Content-Type': 'application/json' }).end('{}')
      })
    })
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve))
    try {
      const port = (collector.address() as AddressInfo).port
      tracing = initTracing('sweep-worker', { env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}/` } })
      expect(tracing.exporting).toBe(true)
      const span = tracing.tracer.startSpan('sweep region', { attributes: { prefix: '0110' } })
      span.end()
      await tracing.shutdown() // flushes the batch
      tracing = undefined
      expect(received).toHaveLength(1)
      expect(received[0].url).toBe('/v1/traces')
      const body = JSON.parse(received[0].body) as {
        resourceSpans: Array<{ resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> }; scopeSpans: Array<{ spans: Array<{ name: string; traceId: string }> }> }>
      }
      const [resourceSpans] = body.resourceSpans
      expect(resourceSpans.resource.attributes).toContainEqual({ key: 'service.name', value: { stringValue: 'sweep-worker' } })
      const exported = resourceSpans.scopeSpans[0].spans[0]
      expect(exported.name).toBe('sweep region')
      expect(exported.traceId).toBe(span.spanContext().traceId)
    } finally {
      await new Promise((resolve) => collector.close(resolve))
    }
  })
})
