import {
  context, defaultTextMapGetter, defaultTextMapSetter, propagation, ROOT_CONTEXT, SpanStatusCode, trace,
  type Attributes, type Context, type Link, type Span, type SpanKind, type Tracer
} from '@opentelemetry/api'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import { hostname } from 'node:os'
import { envDetector, osDetector, processDetector, resourceFromAttributes } from '@opentelemetry/resources'
import { NodeSDK } from '@opentelemetry/sdk-node'
import {
  AlwaysOffSampler, NoopSpanProcessor, ParentBasedSampler, SimpleSpanProcessor, type SpanExporter, type SpanProcessor
} from '@opentelemetry/sdk-trace'

export interface Tracing {
  readonly tracer: Tracer
  /** Whether spans leave the process (an exporter is configured). */
  readonly exporting: boolean
  /** Exports the spans that ended so far (their export waits for the resource's detected attributes). */
  flush(): Promise<void>
  /** Flushes pending spans and, if this is the registered tracing, unregisters the globals. */
  shutdown(): Promise<void>
}

export interface TracingOptions {
  /** Wins over the environment; spans are exported one by one as they end (tests: InMemorySpanExporter). */
  readonly exporter?: SpanExporter
}

const propagator = new W3CTraceContextPropagator()
let registered: Tracing | undefined

/**
 * Whether the standard variables ask for traces to leave the process: an OTLP endpoint or
 * an explicit OTEL_TRACES_EXPORTER. Left to its defaults the SDK would send to
 * localhost:4318, where a pod rarely has a collector.
 */
export function tracesConfigured(env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false
  const exporter = env.OTEL_TRACES_EXPORTER?.trim()
  if (exporter) return exporter !== 'none'
  return Boolean(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim())
}

/**
 * Starts OpenTelemetry's Node SDK for one process: the tracer provider, the W3C
 * propagators and the AsyncLocalStorage context manager, all configured by the standard
 * OTEL_* variables (endpoint, protocol http/protobuf, http/json or grpc, sampler, resource
 * attributes, service name; OTEL_SDK_DISABLED). A later call replaces the earlier one.
 * Metrics stay with prom-client and logs with pino, so the SDK exports neither.
 *
 * With neither an exporter nor an OTLP endpoint, root spans are not sampled (unless
 * OTEL_TRACES_SAMPLER says otherwise): they cost no recording, yet still carry trace ids,
 * and a sampled parent arriving in a job's carrier keeps its children sampled.
 */
export function initTracing(serviceName: string, options: TracingOptions = {}): Tracing {
  const exporting = options.exporter !== undefined || tracesConfigured()
  let spanProcessors: SpanProcessor[] | undefined
  if (options.exporter !== undefined) spanProcessors = [new SimpleSpanProcessor({ exporter: options.exporter })]
  else if (!exporting) spanProcessors = [new NoopSpanProcessor()]
  unregisterGlobals()
  const sdk = new NodeSDK({
    // OTEL_SERVICE_NAME, when set, wins: the SDK's env detector reads it after this
    serviceName: process.env.OTEL_SERVICE_NAME?.trim() || serviceName,
    ...(spanProcessors === undefined ? {} : { spanProcessors }),
    ...(!exporting && !process.env.OTEL_TRACES_SAMPLER ? { sampler: new ParentBasedSampler({ root: new AlwaysOffSampler() }) } : {}),
    // not the SDK's host detector: its lookup of host.id grew a coordinator's RSS by ~100 MiB
    // (api-event-loop.test.ts) for one attribute a pod's name already gives
    resource: resourceFromAttributes({ 'host.name': hostname() }),
    resourceDetectors: [envDetector, processDetector, osDetector],
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: []
  })
  sdk.start()
  const tracing: Tracing = {
    tracer: trace.getTracer(serviceName),
    exporting,
    async flush() {
      const provider = (trace.getTracerProvider() as { getDelegate?: () => { forceFlush?: () => Promise<void> } }).getDelegate?.()
      await provider?.forceFlush?.()
    },
    async shutdown() {
      await sdk.shutdown()
      if (registered === tracing) unregisterGlobals()
    }
  }
  registered = tracing
  return tracing
}

function unregisterGlobals(): void {
  trace.disable()
  propagation.disable()
  context.disable()
  registered = undefined
}

/** A W3C carrier (traceparent, tracestate) of the context's span; empty when the context holds no span. */
export function injectTrace(ctx: Context = context.active()): Record<string, string> {
  const carrier: Record<string, string> = {}
  propagator.inject(ctx, carrier, defaultTextMapSetter)
  return carrier
}

/** The remote parent context of a carrier (such as a request's headers), on top of the root context: nothing ambient leaks in. */
export function extractTrace(carrier: Readonly<Record<string, string>> | undefined): Context {
  return propagator.extract(ROOT_CONTEXT, carrier ?? {}, defaultTextMapGetter)
}

/**
 * Runs fn in a new span that is active for everything fn awaits: the span ends
 * when fn settles, and a throw is recorded on it with status ERROR.
 */
export async function inSpan<T>(
  tracer: Tracer, name: string, options: { parent?: Context; attributes?: Attributes; links?: Link[]; kind?: SpanKind }, fn: (span: Span) => Promise<T>
): Promise<T> {
  const parent = options.parent ?? context.active()
  const span = tracer.startSpan(name, { attributes: options.attributes, links: options.links, kind: options.kind }, parent)
  try {
    return await context.with(trace.setSpan(parent, span), () => fn(span))
  } catch (error) {
    span.recordException(error instanceof Error ? error : String(error))
    span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) })
    throw error
  } finally {
    span.end()
  }
}
