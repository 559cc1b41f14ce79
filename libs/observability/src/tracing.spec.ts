import { context, trace } from '@opentelemetry/api';
import { node, tracing } from '@opentelemetry/sdk-node';
import { MessageSpans, childSpan, formatTraceparent, outgoingTraceparent, parseTraceparent } from './tracing';

const exporter = new tracing.InMemorySpanExporter();
const provider = new node.NodeTracerProvider({ spanProcessors: [new tracing.SimpleSpanProcessor(exporter)] });

beforeAll(() => provider.register());
afterAll(async () => {
  await provider.shutdown();
  trace.disable();
  context.disable();
});
beforeEach(() => exporter.reset());

const RUN = 'a'.repeat(32);
const OTHER = 'b'.repeat(32);
const msg = (traceId: string, id: string, type: string) => ({
  traceparent: formatTraceparent(traceId),
  attributes: { 'messaging.message.id': id, 'warden.event.type': type },
});

/** The event type of the consume span that is the parent of the finished span named `name`. */
function parentType(name: string): unknown {
  const finished = exporter.getFinishedSpans();
  const span = finished.find((s) => s.name === name)!;
  const parentId = span.parentSpanContext?.spanId;
  return finished.find((s) => s.spanContext().spanId === parentId)?.attributes['warden.event.type'];
}

describe('MessageSpans: which message span a reaction hangs under', () => {
  // one run's task_received and decision_made land in one batch: the dispatch the decision causes
  // belongs under the decision's consume span, not the first message of the run
  const batch = [msg(RUN, 'evt-received', 'task_received'), msg(RUN, 'evt-decided', 'decision_made')];

  it('names the cause: the span of that message', async () => {
    const spans = MessageSpans.start('orchestrator', 'orchestrator-runs', [...batch].reverse());
    await spans.run(async () => childSpan('orchestrator', 'dispatch', RUN, {}, { cause: 'evt-decided' })?.end());
    spans.end();
    expect(parentType('dispatch')).toBe('decision_made');
  });

  it("without a cause: the run's latest message in the batch", async () => {
    const spans = MessageSpans.start('orchestrator', 'orchestrator-runs', batch);
    await spans.run(async () => childSpan('orchestrator', 'react', RUN, {})?.end());
    spans.end();
    expect(parentType('react')).toBe('decision_made');
  });

  it("a cause of another run's trace, or not in hand, falls back to the run's own latest span", async () => {
    const spans = MessageSpans.start('orchestrator', 'orchestrator-runs', [
      ...batch,
      msg(OTHER, 'evt-other', 'run_started'),
    ]);
    await spans.run(async () => {
      childSpan('orchestrator', 'foreign', RUN, {}, { cause: 'evt-other' })?.end();
      childSpan('orchestrator', 'unknown', RUN, {}, { cause: 'evt-gone' })?.end();
      // and the outgoing traceparent names the cause's span, in the run's trace
      const tp = parseTraceparent(outgoingTraceparent(RUN, 'evt-received'))!;
      const received = spans.spans[0]!.spanContext();
      expect(tp).toMatchObject({ traceId: RUN, spanId: received.spanId });
    });
    spans.end();
    expect(parentType('foreign')).toBe('decision_made');
    expect(parentType('unknown')).toBe('decision_made');
  });

  it('outside any batch and with no active span of the trace there is no parent: no span is made', () => {
    expect(childSpan('orchestrator', 'orphan', RUN, {}, { cause: 'evt-decided' })).toBeUndefined();
  });
});
