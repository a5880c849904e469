/** Trace context crosses the queue in a job's carrier; spans are exported in-memory or over OTLP/HTTP. */
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import {
  context, extractTrace, initTracing, injectTrace, inSpan, InMemorySpanExporter, ROOT_CONTEXT, trace, type Tracing
} from '../src/index.ts'

let tracing: Tracing | undefined

/** Runs fn with the OTEL_* variables set as given (and no others), as a process would start with them. */
function withEnv<T>(vars: Record<string, string>, fn: () => T): T {
  const saved = Object.fromEntries(Object.keys(process.env).filter((k) => k.startsWith('OTEL_')).map((k) => [k, process.env[k]]))
  for (const key of Object.keys(saved)) delete process.env[key]
  Object.assign(process.env, vars)
  try {
    return fn()
  } finally {
    for (const key of Object.keys(vars)) delete process.env[key]
    Object.assign(process.env, saved)
  }
}

afterEach(async () => {
  await tracing?.shutdown()
  tracing = undefined
})

describe('trace propagation', () => {
  it('a span extracted from a carrier on the other side is a child of the injecting span', async () => {
    const exporter = new InMemorySpanExporter()
    tracing = initTracing('sweep-test', { exporter })
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

    await tracing.flush()
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
    tracing = initTracing('sweep-test', { exporter })
    await expect(inSpan(tracing.tracer, 'explore', {}, async () => { throw new Error('no peers') })).rejects.toThrow('no peers')
    await tracing.flush()
    const [span] = exporter.getFinishedSpans()
    expect(span.status).toEqual({ code: 2, message: 'no peers' })
    expect(span.events.map((e) => e.name)).toEqual(['exception'])
  })

  it('without an exporter, spans are not recorded but trace ids still flow', async () => {
    tracing = initTracing('sweep-test')
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
    tracing = initTracing('sweep-test', { exporter: new InMemorySpanExporter() })
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

  it('exports over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set, with the resource the variables give', async () => {
    await withCollector(async (url, received) => {
      tracing = withEnv({
        OTEL_EXPORTER_OTLP_ENDPOINT: `${url}/`, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=test,service.namespace=ipfs'
      }, () => initTracing('sweep-worker'))
      expect(tracing.exporting).toBe(true)
      const span = tracing.tracer.startSpan('sweep region', { attributes: { prefix: '0110' } })
      span.end()
      await tracing.shutdown() // flushes the batch
      tracing = undefined
      expect(received.map((r) => [r.url, r.contentType])).toEqual([['/v1/traces', 'application/json']])
      const body = JSON.parse(received[0].body.toString()) as {
        resourceSpans: Array<{ resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> }; scopeSpans: Array<{ spans: Array<{ name: string; traceId: string }> }> }>
      }
      const [resourceSpans] = body.resourceSpans
      const attributes = Object.fromEntries(resourceSpans.resource.attributes.map((a) => [a.key, a.value.stringValue]))
      expect(attributes).toMatchObject({ 'service.name': 'sweep-worker', 'deployment.environment.name': 'test', 'service.namespace': 'ipfs' })
      const exported = resourceSpans.scopeSpans[0].spans[0]
      expect(exported.name).toBe('sweep region')
      expect(exported.traceId).toBe(span.spanContext().traceId)
    })
  })

  it('follows OTEL_SERVICE_NAME, the protobuf protocol, the sampler and OTEL_SDK_DISABLED', async () => {
    await withCollector(async (url, received) => {
      tracing = withEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf', OTEL_SERVICE_NAME: 'sweep-eu-1' }, () => initTracing('sweep-worker'))
      tracing.tracer.startSpan('sweep region').end()
      await tracing.shutdown()
      expect(received.map((r) => [r.url, r.contentType])).toEqual([['/v1/traces', 'application/x-protobuf']])
      // the protobuf carries the names as plain strings
      expect(received[0].body.includes(Buffer.from('sweep-eu-1'))).toBe(true)
      expect(received[0].body.includes(Buffer.from('sweep region'))).toBe(true)

      tracing = withEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: url, OTEL_TRACES_SAMPLER: 'always_off' }, () => initTracing('sweep-worker'))
      expect(tracing.tracer.startSpan('not sampled').isRecording()).toBe(false)
      await tracing.shutdown()
      tracing = withEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: url, OTEL_SDK_DISABLED: 'true' }, () => initTracing('sweep-worker'))
      expect(tracing.exporting).toBe(false)
      tracing.tracer.startSpan('disabled').end()
      await tracing.shutdown()
      tracing = undefined
      expect(received).toHaveLength(1)
    })
  })
})

/** A real OTLP/HTTP receiver on a free port for fn, which gets its URL and what arrives. */
async function withCollector(fn: (url: string, received: Array<{ url: string; contentType: string; body: Buffer }>) => Promise<void>): Promise<void> {
  const received: Array<{ url: string; contentType: string; body: Buffer }> = []
  const collector = createServer((request: IncomingMessage, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      received.push({ url: request.url ?? '', contentType: request.headers['content-type'] ?? '', body: Buffer.concat(chunks) })
      response.writeHead(200, { 'Content-Type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve))
  try {
    await fn(`http://127.0.0.1:${(collector.address() as AddressInfo).port}`, received)
  } finally {
    await new Promise((resolve) => collector.close(resolve))
  }
}
