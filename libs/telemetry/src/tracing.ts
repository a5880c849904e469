import {
  context, defaultTextMapGetter, defaultTextMapSetter, propagation, ROOT_CONTEXT, SpanStatusCode, trace,
  type Attributes, type Context, type Span, type Tracer
} from '@opentelemetry/api'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { resourceFromAttributes } from '@opentelemetry/resources'
import {
  AlwaysOffSampler, AlwaysOnSampler, BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, SimpleSpanProcessor,
  type SpanExporter, type SpanProcessor
} from '@opentelemetry/sdk-trace-base'
import { AsyncLocalContextManager } from './context-manager.ts'

export interface Tracing {
  readonly tracer: Tracer
  /** Whether spans leave the process (an exporter is configured). */
  readonly exporting: boolean
  /** Flushes pending spans and, if this is the registered tracing, unregisters the globals. */
  shutdown(): Promise<void>
}

export interface TracingOptions {
  /** Wins over the environment; spans are exported one by one as they end (tests: InMemorySpanExporter). */
  readonly exporter?: SpanExporter
  /** Where the OTEL_* variables are read from. Default process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>
}

const propagator = new W3CTraceContextPropagator()
let registered: Tracing | undefined

/** The OTLP/HTTP traces URL from the standard variables, or undefined when tracing is not configured. */
export function otlpTracesUrl(env: Readonly<Record<string, string | undefined>>): string | undefined {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return undefined
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim()
  if (traces) return traces
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim()
  if (base) return `${base.replace(/\/+$/, '')}/v1/traces`
  return undefined
}

/**
 * Sets up tracing for one process and registers it globally: the tracer
 * provider, the W3C trace-context propagator and an AsyncLocalStorage context
 * manager. A later call replaces the earlier registration.
 *
 * With neither an exporter nor OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, new root
 * spans are not sampled: they cost no recording, yet still carry trace ids, and
 * a sampled parent arriving in a job's carrier keeps its children sampled.
 */
export function initTracing(serviceName: string, options: TracingOptions = {}): Tracing {
  const env = options.env ?? process.env
  const processors: SpanProcessor[] = []
  if (options.exporter !== undefined) {
    processors.push(new SimpleSpanProcessor(options.exporter))
  } else {
    const url = otlpTracesUrl(env)
    // The OTLP exporter is built on a newer sdk-trace than this package's; the
    // span shape it reads is the same (checked by tracing.test.ts against a real HTTP receiver).
    if (url !== undefined) processors.push(new BatchSpanProcessor(new OTLPTraceExporter({ url }) as unknown as SpanExporter))
  }
  const exporting = processors.length > 0
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': env.OTEL_SERVICE_NAME?.trim() || serviceName }),
    sampler: new ParentBasedSampler({ root: exporting ? new AlwaysOnSampler() : new AlwaysOffSampler() }),
    spanProcessors: processors
  })

  unregisterGlobals()
  context.setGlobalContextManager(new AsyncLocalContextManager())
  propagation.setGlobalPropagator(propagator)
  trace.setGlobalTracerProvider(provider)

  const tracing: Tracing = {
    tracer: provider.getTracer(serviceName),
    exporting,
    async shutdown() {
      await provider.shutdown()
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

/** A W3C carrier (traceparent, tracestate) for RegionJob.trace; empty when the context holds no span. */
export function injectTrace(ctx: Context = context.active()): Record<string, string> {
  const carrier: Record<string, string> = {}
  propagator.inject(ctx, carrier, defaultTextMapSetter)
  return carrier
}

/** The remote parent context of a carrier, on top of the root context (a job does not inherit the worker's ambient context). */
export function extractTrace(carrier: Readonly<Record<string, string>> | undefined): Context {
  return propagator.extract(ROOT_CONTEXT, carrier ?? {}, defaultTextMapGetter)
}

/**
 * Runs fn in a new span that is active for everything fn awaits: the span ends
 * when fn settles, and a throw is recorded on it with status ERROR.
 */
export async function inSpan<T>(
  tracer: Tracer, name: string, options: { parent?: Context; attributes?: Attributes }, fn: (span: Span) => Promise<T>
): Promise<T> {
  const parent = options.parent ?? context.active()
  const span = tracer.startSpan(name, { attributes: options.attributes }, parent)
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
