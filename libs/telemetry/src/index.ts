/**
 * Metrics (prom-client, own registry per role), tracing (OpenTelemetry's Node SDK;
 * BullMQ's own spans carry the trace context across the queue) and the ops HTTP server.
 *
 * Import OTel API values (context, trace, SpanStatusCode, ...) from here rather
 * than from '@opentelemetry/api' directly: this package resolves its own copy of
 * the API (the SDK it uses pins it), and only that copy sees the globals that
 * initTracing registers.
 */
export * from './metrics.ts'
export * from './tracing.ts'
export * from './ops-server.ts'
export { context, propagation, trace, ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags } from '@opentelemetry/api'
export type { Attributes, Context, Link, Span, SpanContext, Tracer } from '@opentelemetry/api'
export type { SpanExporter, ReadableSpan } from '@opentelemetry/sdk-trace'
export { InMemorySpanExporter } from '@opentelemetry/sdk-trace'
