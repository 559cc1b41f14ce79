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

import {
  context,
  createContextKey,
  propagation,
  trace,
  SpanKind,
  SpanStatusCode,
  ROOT_CONTEXT,
  type Attributes,
  type Context,
  type Link,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';

export { SpanKind, SpanStatusCode, type Span } from '@opentelemetry/api';

let sdkShutdown: (() => Promise<void>) | undefined;

/**
 * The tracer of one service (instrumentation scope `warden-<service>`), so spans say which service
 * made them even when several run in one process (the full-system tests).
 * @example tracerFor('policy').startSpan('decide')
 */
export function tracerFor(service = 'warden'): Tracer {
  return trace.getTracer(service === 'warden' ? 'warden' : `warden-${service}`);
}

/** Requests that are not worth a span: probes and scrapes. */
const UNTRACED_PATHS = /^\/(metrics|health\/(live|ready))(\?|$)/;

/**
 * Starts OpenTelemetry for this process. With `OTEL_EXPORTER_OTLP_ENDPOINT` set, spans are exported
 * over OTLP (`OTEL_EXPORTER_OTLP_PROTOCOL`: `http/protobuf` by default, `http/json`, `grpc`) by a
 * batch processor, and HTTP server spans come from the SDK's http instrumentation; without it nothing
 * is exported but W3C context still propagates through the bus.
 * Call from `instrumentation.ts`, before Nest, pg or ioredis load.
 * @example startTracing('policy')
 */
export function startTracing(service: string): void {
  if (sdkShutdown) return;
  // the SDK registers its own (W3C trace context and baggage) propagator
  if (!process.env.OTEL_EXPORTER_OTLP_ENDPOINT) {
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    return;
  }
  process.env.OTEL_SERVICE_NAME ??= `warden-${service}`;
  process.env.OTEL_METRICS_EXPORTER ??= 'none';
  process.env.OTEL_LOGS_EXPORTER ??= 'none';
  /* eslint-disable @typescript-eslint/no-require-imports -- loaded only when exporting */
  const { NodeSDK } = require('@opentelemetry/sdk-node') as typeof import('@opentelemetry/sdk-node');
  const { HttpInstrumentation } =
    require('@opentelemetry/instrumentation-http') as typeof import('@opentelemetry/instrumentation-http');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const sdk = new NodeSDK({
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (req) => UNTRACED_PATHS.test(req.url ?? ''),
        // outgoing calls (Slack, MCP, webhooks out) get a span only inside a run's trace
        requireParentforOutgoingSpans: true,
      }),
    ],
  });
  sdk.start();
  sdkShutdown = () => sdk.shutdown();
}

/** True while this process exports spans (the SDK was started). */
export function tracingEnabled(): boolean {
  return sdkShutdown !== undefined;
}

/** Flushes and stops the SDK if it was started. */
export async function stopTracing(): Promise<void> {
  await sdkShutdown?.();
  sdkShutdown = undefined;
}

const getter = {
  get: (c: Record<string, string>, k: string) => c[k],
  keys: (c: Record<string, string>) => Object.keys(c),
};

/** The context of an incoming `traceparent` (ROOT when absent or malformed). */
export function contextFromTraceparent(traceparent: string | undefined): Context {
  return traceparent ? propagation.extract(ROOT_CONTEXT, { traceparent }, getter) : ROOT_CONTEXT;
}

/** `traceparent` of a span, or undefined when it is not recording (no SDK) or has no valid context. */
export function traceparentOf(span: Span | undefined): string | undefined {
  if (!span?.isRecording()) return undefined;
  const c = span.spanContext();
  return formatTraceparent(c.traceId, c.spanId, (c.traceFlags & 1) === 1);
}

/**
 * The `traceparent` to hand downstream for a request being served: the active (HTTP server) span's
 * when one is recording, else the incoming header. Keeps a run's trace id equal to its first span's.
 */
export function currentTraceparent(incoming: string | undefined): string | undefined {
  return traceparentOf(trace.getSpan(context.active())) ?? incoming;
}

/**
 * Runs `fn` inside a span whose parent is the given `traceparent`; the span is ended when `fn` settles.
 * When no SDK is running the span is non-recording but still carries the trace id.
 */
export async function withSpan<T>(
  name: string,
  traceparent: string | undefined,
  attributes: Attributes,
  fn: (span: Span) => Promise<T>,
  opts: { service?: string; kind?: SpanKind } = {},
): Promise<T> {
  return tracerFor(opts.service).startActiveSpan(
    name,
    { kind: opts.kind ?? SpanKind.CONSUMER, attributes },
    contextFromTraceparent(traceparent),
    async (span) => {
      try {
        return await fn(span);
      } catch (err) {
        span.recordException(err as Error);
        span.setStatus({ code: SpanStatusCode.ERROR });
        throw err;
      } finally {
        span.end();
      }
    },
  );
}

/** The spans of the messages being handled in this async context (see {@link MessageSpans}). */
const MESSAGE_SPANS = createContextKey('warden.message-spans');

/** Message spans by trace id (a run's latest message) and by message id. */
interface FoundSpans {
  byTrace: Map<string, Span>;
  byMessage: Map<string, Span>;
}

/** One message of a batch, as far as tracing cares. */
export interface TracedMessage {
  traceparent?: string;
  attributes: Attributes;
}

/**
 * Consume spans for a batch: one batch span (linked to every message's context) and one span per
 * message, a child of the message's own `traceparent` and linked to the batch span. Inside
 * {@link MessageSpans.run}, what is published or recorded for a run's trace id (see
 * {@link childSpan}, {@link outgoingTraceparent}) hangs under that run's message span, so each run
 * keeps one connected trace however the messages were batched.
 * @example
 *   const spans = MessageSpans.start('policy', 'policy-task-received', msgs.map(toTraced));
 *   const errors = await spans.run(() => handler(msgs));
 *   spans.end(errors);
 */
export class MessageSpans {
  private constructor(
    readonly batch: Span | undefined,
    readonly spans: Span[],
    private readonly found: FoundSpans,
  ) {}

  /** Starts the spans; with `batch: false` (one message at a time) no batch span is made. */
  static start(
    service: string,
    consumer: string,
    msgs: readonly TracedMessage[],
    opts: { batch?: boolean; batchAttributes?: Attributes } = {},
  ): MessageSpans {
    const tracer = tracerFor(service);
    const parents = msgs.map((m) => contextFromTraceparent(m.traceparent));
    let batch: Span | undefined;
    const links: Link[] = [];
    if (opts.batch !== false) {
      batch = tracer.startSpan(
        `process ${consumer} batch`,
        {
          kind: SpanKind.CONSUMER,
          root: true,
          attributes: {
            'messaging.system': 'nats',
            'messaging.operation.type': 'process',
            'messaging.operation.name': 'process',
            'messaging.consumer.group.name': consumer,
            'messaging.batch.message_count': msgs.length,
            ...opts.batchAttributes,
          },
          links: parents
            .slice(0, 128)
            .map((p) => trace.getSpanContext(p))
            .filter((c) => c !== undefined)
            .map((c) => ({ context: c })),
        },
        ROOT_CONTEXT,
      );
      if (batch.isRecording()) links.push({ context: batch.spanContext() });
    }
    const found: FoundSpans = { byTrace: new Map(), byMessage: new Map() };
    const spans = msgs.map((m, i) => {
      const span = tracer.startSpan(
        `process ${consumer}`,
        {
          kind: SpanKind.CONSUMER,
          attributes: {
            'messaging.system': 'nats',
            'messaging.operation.type': 'process',
            'messaging.operation.name': 'process',
            'messaging.consumer.group.name': consumer,
            ...m.attributes,
          },
          links,
        },
        parents[i],
      );
      if (span.isRecording()) {
        // a run's later message replaces its earlier one: what is done for a run after its messages
        // of a batch are folded answers the latest of them, unless the caller names the cause
        found.byTrace.set(span.spanContext().traceId, span);
        const id = m.attributes['messaging.message.id'];
        if (typeof id === 'string') found.byMessage.set(id, span);
      }
      return span;
    });
    return new MessageSpans(batch, spans, found);
  }

  /** Runs `fn` with the batch span active and each run's message span findable by its trace id. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    if (!this.batch?.isRecording() && this.found.byTrace.size === 0) return fn();
    let ctx = context.active().setValue(MESSAGE_SPANS, this.found);
    if (this.batch) ctx = trace.setSpan(ctx, this.batch);
    else if (this.spans.length === 1) ctx = trace.setSpan(ctx, this.spans[0]!);
    return context.with(ctx, fn);
  }

  /** `traceparent` of message i's span, when recording. */
  traceparentOf(i: number): string | undefined {
    return traceparentOf(this.spans[i]);
  }

  /** Ends every span; a message settled with an error (nak, dead letter) gets an error status. */
  end(outcomes: readonly { error?: unknown; outcome?: string }[] = []): void {
    this.spans.forEach((span, i) => {
      const o = outcomes[i];
      if (o?.outcome) span.setAttribute('warden.outcome', o.outcome);
      if (o?.error !== undefined) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: errorMessage(o.error) });
        if (o.error instanceof Error) span.setAttribute('error.type', errorType(o.error));
      }
      span.end();
    });
    this.batch?.end();
  }
}

function errorMessage(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).slice(0, 200);
}
function errorType(err: Error): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : err.name;
}

/**
 * The span the current context holds for `traceId`: the span of message `cause` (its id, the
 * envelope or command id) when that message of the trace is in hand, else the run's latest message
 * span, else the active span of that trace.
 */
export function spanForTrace(traceId: string, cause?: string): Span | undefined {
  const ctx = context.active();
  const found = ctx.getValue(MESSAGE_SPANS) as FoundSpans | undefined;
  const byCause = cause === undefined ? undefined : found?.byMessage.get(cause);
  if (byCause && byCause.spanContext().traceId === traceId) return byCause;
  const latest = found?.byTrace.get(traceId);
  if (latest) return latest;
  const active = trace.getSpan(ctx);
  return active && active.spanContext().traceId === traceId ? active : undefined;
}

/**
 * Starts a span inside run `traceId`'s trace, under the span this context holds for it (the span of
 * message `opts.cause` when given and in hand, else the run's latest message span in a batch, or the
 * active span). Undefined when there is none (no SDK, or nothing of that trace
 * is being handled, and no `parent` traceparent of that trace is given): callers skip the span,
 * never invent a parent.
 * @example const span = childSpan('workers', 'execute_tool fs.read_file', cmd.trace_id, { 'gen_ai.tool.name': 'fs.read_file' });
 */
export function childSpan(
  service: string,
  name: string,
  traceId: string,
  attributes: Attributes,
  opts: { kind?: SpanKind; startTime?: Date | number; parent?: string; cause?: string } = {},
): Span | undefined {
  const parent = spanForTrace(traceId, opts.cause);
  let ctx: Context;
  if (parent?.isRecording()) ctx = trace.setSpan(context.active(), parent);
  else if (sdkShutdown && opts.parent && parseTraceparent(opts.parent)?.traceId === traceId)
    ctx = contextFromTraceparent(opts.parent);
  else return undefined;
  return tracerFor(service).startSpan(
    name,
    { kind: opts.kind ?? SpanKind.INTERNAL, attributes, startTime: opts.startTime },
    ctx,
  );
}

/**
 * The `traceparent` to put on an outgoing message for `traceId`: the span this context holds for that
 * trace (so the hop is linked), otherwise a fresh span id under the same trace id.
 */
export function outgoingTraceparent(traceId: string, cause?: string): string {
  return traceparentOf(spanForTrace(traceId, cause)) ?? formatTraceparent(traceId);
}
