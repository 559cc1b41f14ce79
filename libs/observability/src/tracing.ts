import { newSpanId, newTraceId } from '@warden/kernel';

/** W3C trace context as carried in the `traceparent` header. */
export interface TraceContext {
  traceId: string;
  spanId: string;
  sampled: boolean;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** Parses `traceparent`; undefined when absent or malformed (never throws). */
export function parseTraceparent(value: string | undefined | null): TraceContext | undefined {
  if (!value) return undefined;
  const m = TRACEPARENT.exec(value.trim());
  if (!m || /^0+$/.test(m[1]!) || /^0+$/.test(m[2]!)) return undefined;
  return { traceId: m[1]!, spanId: m[2]!, sampled: (parseInt(m[3]!, 16) & 1) === 1 };
}

/** Formats a `traceparent` for a trace id, with a fresh span id unless one is given. */
export function formatTraceparent(traceId: string, spanId: string = newSpanId(), sampled = true): string {
  return `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`;
}

/** A trace id from an incoming `traceparent`, or a new one. */
export function traceIdFrom(traceparent: string | undefined | null): string {
  return parseTraceparent(traceparent)?.traceId ?? newTraceId();
}

import { context, propagation, trace, SpanKind, ROOT_CONTEXT, type Span, type Context } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';

const tracer = trace.getTracer('warden');
let sdkShutdown: (() => Promise<void>) | undefined;

/**
 * Starts OpenTelemetry for this process. With `OTEL_EXPORTER_OTLP_ENDPOINT` set, spans are exported
 * over OTLP; without it nothing is exported but W3C context still propagates through the bus.
 * Call from `instrumentation.ts`, before Nest, pg or ioredis load.
 * @example startTracing('policy')
 */
export function startTracing(service: string): void {
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  if (!process.env.OTEL_EXPORTER_OTLP_ENDPOINT || sdkShutdown) return;
  process.env.OTEL_SERVICE_NAME ??= `warden-${service}`;
  process.env.OTEL_METRICS_EXPORTER ??= 'none';
  process.env.OTEL_LOGS_EXPORTER ??= 'none';
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only when exporting
  const { NodeSDK } = require('@opentelemetry/sdk-node') as typeof import('@opentelemetry/sdk-node');
  const sdk = new NodeSDK({});
  sdk.start();
  sdkShutdown = () => sdk.shutdown();
}

/** Flushes and stops the SDK if it was started. */
export async function stopTracing(): Promise<void> {
  await sdkShutdown?.();
  sdkShutdown = undefined;
}

/**
 * Runs `fn` inside a span whose parent is the given `traceparent`; the span is ended when `fn` settles.
 * When no SDK is running the span is non-recording but still carries the trace id.
 */
export async function withSpan<T>(
  name: string,
  traceparent: string | undefined,
  attributes: Record<string, string | number>,
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  const parent: Context = traceparent
    ? propagation.extract(
        ROOT_CONTEXT,
        { traceparent },
        { get: (c, k) => c[k as 'traceparent'], keys: (c) => Object.keys(c) },
      )
    : ROOT_CONTEXT;
  return tracer.startActiveSpan(name, { kind: SpanKind.CONSUMER, attributes }, parent, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.recordException(err as Error);
      throw err;
    } finally {
      span.end();
    }
  });
}

/**
 * The `traceparent` to put on an outgoing message for `traceId`: the active span's when it belongs to
 * that trace (so the hop is linked), otherwise a fresh span id under the same trace id.
 */
export function outgoingTraceparent(traceId: string): string {
  const active = trace.getSpan(context.active())?.spanContext();
  if (active && active.traceId === traceId && /[1-9a-f]/.test(active.spanId)) {
    return formatTraceparent(traceId, active.spanId, (active.traceFlags & 1) === 1);
  }
  return formatTraceparent(traceId);
}
