import { createServer, type Server } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { headers as natsHeaders } from '@nats-io/nats-core';
import { newId } from '@warden/kernel';
import { startTracing, stopTracing } from '@warden/observability';
import { createTestEnv, waitFor, type TestEnv } from '@warden/testing';
import type { System as SystemType } from './support/system';

/** One span as the OTLP/HTTP JSON encoding carries it, with the scope (service) that made it. */
interface ReceivedSpan {
  scope: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Record<string, string | number | boolean>;
  links: { traceId: string; spanId: string }[];
}

type AnyValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number };
const valueOf = (v: AnyValue) =>
  v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : (v.boolValue ?? v.doubleValue ?? ''));

/** OTLP/JSON ids are hex (the spec's JSON mapping); tolerate base64 too. */
const hex = (id: string | undefined) =>
  !id ? '' : /^[0-9a-f]*$/i.test(id) ? id.toLowerCase() : Buffer.from(id, 'base64').toString('hex');

/** A tiny OTLP/HTTP receiver: POST /v1/traces with JSON bodies, every span kept in memory. */
class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  requests = 0;
  private server?: Server;

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.requests++;
        let body = Buffer.concat(chunks);
        if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
        if (req.url === '/v1/traces' && String(req.headers['content-type']).startsWith('application/json'))
          this.take(JSON.parse(body.toString('utf8')));
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((ok) => this.server!.listen(0, '127.0.0.1', ok));
    return `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  private take(body: {
    resourceSpans?: {
      scopeSpans?: {
        scope?: { name?: string };
        spans?: (Omit<ReceivedSpan, 'scope' | 'attributes' | 'links'> & {
          attributes?: { key: string; value: AnyValue }[];
          links?: { traceId: string; spanId: string }[];
        })[];
      }[];
    }[];
  }): void {
    for (const rs of body.resourceSpans ?? [])
      for (const ss of rs.scopeSpans ?? [])
        for (const s of ss.spans ?? [])
          this.spans.push({
            ...s,
            scope: ss.scope?.name ?? '',
            traceId: hex(s.traceId),
            spanId: hex(s.spanId),
            parentSpanId: hex(s.parentSpanId),
            attributes: Object.fromEntries((s.attributes ?? []).map((a) => [a.key, valueOf(a.value)])),
            links: (s.links ?? []).map((l) => ({ traceId: hex(l.traceId), spanId: hex(l.spanId) })),
          });
  }

  trace(traceId: string): ReceivedSpan[] {
    return this.spans.filter((s) => s.traceId === traceId);
  }

  async stop(): Promise<void> {
    await new Promise<void>((ok) => this.server?.close(() => ok()) ?? ok());
  }
}

const ADMIN = 'tracing-admin-token-0123456789abcdef';
const SERVICES = ['warden-ingest', 'warden-policy', 'warden-orchestrator', 'warden-approvals', 'warden-workers'];
const TERMINAL = ['succeeded', 'failed', 'denied', 'rejected', 'expired', 'cancelled'];

describe('one trace per run across all five services (spans exported over OTLP/HTTP JSON)', () => {
  const receiver = new OtlpReceiver();
  let t: TestEnv;
  let sys: SystemType;
  let workspace: string;
  const saved = { ...process.env };

  beforeAll(async () => {
    const url = await receiver.start();
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = url;
    process.env.OTEL_EXPORTER_OTLP_PROTOCOL = 'http/json';
    process.env.OTEL_BSP_SCHEDULE_DELAY = '100';
    process.env.OTEL_SERVICE_NAME = 'warden-tracing-test';
    startTracing('tracing-test');
    // the services load after the SDK, as their instrumentation.ts makes them do
    const { System } = await import('./support/system');
    t = await createTestEnv();
    workspace = mkdtempSync(join(tmpdir(), 'warden-tracing-'));
    writeFileSync(join(workspace, 'hello.txt'), 'hello\n');
    sys = new System(
      t,
      { WARDEN_WORKSPACE: workspace, WARDEN_BOOTSTRAP_ADMIN_TOKEN: ADMIN },
      // the orchestrator's audit key (production-style keys leave it no seed to derive one from)
      { orchestrator: { WARDEN_AUDIT_KEY: Buffer.alloc(32, 7).toString('base64') } },
    );
    await sys.startAll();
  });
  afterAll(async () => {
    await sys?.stopAll();
    await t?.cleanup();
    await stopTracing();
    await receiver.stop();
    process.env = saved;
  });

  async function submit(body: Record<string, unknown>): Promise<void> {
    // no traceparent: ingest derives the run's trace and its first span continues it
    await t.bus.js.publish(t.subjects.ingestTasks, JSON.stringify(body), { msgID: newId(), headers: natsHeaders() });
  }

  async function getRun(runId: string, token = ADMIN) {
    const r = await fetch(`${sys.url('orchestrator')}/v1/runs/${runId}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    return r.status === 200
      ? ((await r.json()) as { status: string; trace_id: string; approval?: { id: string } })
      : undefined;
  }

  const until = (runId: string, statuses: string[]) =>
    waitFor(
      async () => {
        const run = await getRun(runId);
        return run && statuses.includes(run.status) ? run : undefined;
      },
      `run ${runId} to reach ${statuses.join('|')}`,
      20_000,
    );

  /** Waits until the run's trace holds spans matching `want` (spans arrive in batches). */
  const traceWith = (traceId: string, want: (spans: ReceivedSpan[]) => boolean) =>
    waitFor(
      async () => {
        const spans = receiver.trace(traceId);
        return want(spans) ? spans : undefined;
      },
      `trace ${traceId}`,
      15_000,
    ).catch((err: Error) => {
      const seen = receiver.trace(traceId).map((s) => `${s.scope}:${s.name}`);
      throw new Error(`${err.message}; ${receiver.spans.length} spans received, this trace: ${seen.join(', ')}`);
    });

  /** Whether every parent is exported yet (a parent span ends, and so is exported, after its children). */
  function connected(spans: ReceivedSpan[]): boolean {
    const ids = new Set(spans.map((s) => s.spanId));
    const dangling = spans.filter((s) => s.parentSpanId && !ids.has(s.parentSpanId));
    return dangling.every((s) => s.scope === 'warden-ingest' && s.parentSpanId === dangling[0]!.parentSpanId);
  }

  /** Every parent a span names is a span of the same trace, but for the run's entry (the submitter's context). */
  function expectConnected(spans: ReceivedSpan[]): void {
    const ids = new Set(spans.map((s) => s.spanId));
    const dangling = spans.filter((s) => s.parentSpanId && !ids.has(s.parentSpanId));
    // only ingest's consume span(s) continue a context from outside the trace's exported spans
    expect(dangling.map((s) => `${s.scope}:${s.name}`)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^warden-ingest:process ingest-tasks$/)]),
    );
    expect(dangling.map((s) => `${s.scope}:${s.name}:${s.parentSpanId}`)).toHaveLength(
      dangling.filter((s) => s.parentSpanId === dangling[0]!.parentSpanId).length,
    );
    expect(dangling.every((s) => s.scope === 'warden-ingest')).toBe(true);
  }

  const proposal = (tool: string, args: Record<string, unknown>, role = 'dev') => ({
    run_id: newId(),
    agent: { id: 'agent-trace', role },
    session_id: 'sess-trace',
    action: { tool, args },
    intent: 'tracing test',
  });

  it('an allowed run is one connected trace with spans from all five services and GenAI attributes', async () => {
    const p = proposal('fs.write_file', { path: 'notes/traced.md', content: 'SECRET-CONTENT-never-in-a-span' });
    await submit(p);
    const run = await until(p.run_id, TERMINAL);
    expect(run.status).toBe('succeeded');
    const spans = await traceWith(
      run.trace_id,
      (s) =>
        SERVICES.every((svc) => s.some((x) => x.scope === svc)) &&
        s.some((x) => x.name.startsWith('execute_tool')) &&
        s.some(
          (x) => x.name === 'process orchestrator-runs' && x.attributes['warden.event.type'] === 'run_succeeded',
        ) &&
        connected(s),
    );
    expect(new Set(spans.map((s) => s.scope))).toEqual(expect.objectContaining({}));
    for (const svc of SERVICES) expect(spans.some((s) => s.scope === svc)).toBe(true);
    expectConnected(spans);

    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const parentOf = (s: ReceivedSpan) => byId.get(s.parentSpanId);

    // policy: decide under its consume span, which continues ingest's publish of task_received
    const decide = spans.find((s) => s.name === 'decide fs.write_file')!;
    expect(decide).toBeDefined();
    expect(decide.scope).toBe('warden-policy');
    expect(decide.attributes).toMatchObject({
      'gen_ai.tool.name': 'fs.write_file',
      'gen_ai.agent.id': 'agent-trace',
      'gen_ai.conversation.id': 'sess-trace',
      'warden.run_id': p.run_id,
      'warden.decision.outcome': 'allow',
      'warden.tier': 1,
    });
    expect(String(decide.attributes['warden.policy_digest'])).toMatch(/^sha256:/);
    const policyConsume = parentOf(decide)!;
    expect(policyConsume.name).toBe('process policy-task-received');
    expect(policyConsume.attributes).toMatchObject({
      'messaging.system': 'nats',
      'messaging.operation.type': 'process',
      'messaging.consumer.group.name': 'policy-task-received',
      'warden.event.type': 'task_received',
    });
    const ingestPublish = parentOf(policyConsume)!;
    expect(ingestPublish).toMatchObject({ scope: 'warden-ingest', name: 'publish task_received', kind: 4 });
    expect(ingestPublish.attributes).toMatchObject({ 'messaging.operation.type': 'send', 'warden.run_id': p.run_id });
    expect(parentOf(ingestPublish)!.name).toBe('process ingest-tasks');

    // orchestrator dispatches under the consume span of the decision; the command's consumer continues it
    const dispatch = spans.find((s) => s.name === 'dispatch fs.write_file')!;
    expect(dispatch.scope).toBe('warden-orchestrator');
    expect(parentOf(dispatch)!.attributes['warden.event.type']).toBe('decision_made');
    const execute = spans.find((s) => s.name === 'execute_tool fs.write_file')!;
    expect(execute.scope).toBe('warden-workers');
    expect(execute.attributes).toMatchObject({
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.name': 'fs.write_file',
      'gen_ai.agent.id': 'agent-trace',
      'gen_ai.conversation.id': 'sess-trace',
      'warden.run_id': p.run_id,
    });
    const workerConsume = parentOf(execute)!;
    expect(workerConsume.name).toBe('process workers-execute-dev');
    expect(parentOf(workerConsume)).toMatchObject({ scope: 'warden-orchestrator', name: 'publish command' });
    // each batched message span links to its batch span (a trace of its own)
    expect(workerConsume.links.length).toBe(1);
    expect(workerConsume.links[0]!.traceId).not.toBe(run.trace_id);

    // arguments and outputs never go into spans
    for (const s of spans) expect(JSON.stringify(s.attributes)).not.toContain('SECRET-CONTENT');
  });

  it("an escalated run's trace includes the approval wait, and the run continues under it", async () => {
    const operator = async (name: string) => {
      const r = await fetch(`${sys.url('approvals')}/v1/operators`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name, roles: ['approver'], max_tier: 3 }),
      });
      expect(r.status).toBe(201);
      return ((await r.json()) as { token: string }).token;
    };
    const [alice, bob] = [await operator('alice-trace'), await operator('bob-trace')];
    const p = proposal('fs.write_file', { path: 'prod/traced.txt', content: 'approved' });
    await submit(p);
    const waiting = await until(p.run_id, ['awaiting_approval']);
    const approvalId = waiting.approval!.id;
    await waitFor(async () => {
      const r = await fetch(`${sys.url('approvals')}/v1/approvals/${approvalId}`, {
        headers: { authorization: `Bearer ${ADMIN}` },
      });
      return r.status === 200 || undefined;
    }, 'the approval in the inbox');
    for (const token of [alice, bob]) {
      const r = await fetch(`${sys.url('approvals')}/v1/approvals/${approvalId}/approve`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: '{}',
      });
      expect(r.status).toBe(200);
    }
    const run = await until(p.run_id, TERMINAL);
    expect(run.status).toBe('succeeded');
    const spans = await traceWith(
      run.trace_id,
      (s) =>
        s.some((x) => x.name === 'approval_wait') &&
        s.some((x) => x.name === 'execute_tool fs.write_file') &&
        connected(s),
    );
    expectConnected(spans);
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const wait = spans.find((s) => s.name === 'approval_wait')!;
    expect(wait.scope).toBe('warden-approvals');
    expect(wait.attributes).toMatchObject({
      'warden.run_id': p.run_id,
      'warden.approval_id': approvalId,
      'warden.tier': 3,
      'warden.approval.outcome': 'granted',
      'gen_ai.agent.id': 'agent-trace',
    });
    // it hangs under the orchestrator's publish of approval_requested and lasts until the grant
    expect(byId.get(wait.parentSpanId)).toMatchObject({
      scope: 'warden-orchestrator',
      name: 'publish approval_requested',
    });
    expect(BigInt(wait.endTimeUnixNano) - BigInt(wait.startTimeUnixNano)).toBeGreaterThan(0n);
    const grant = spans.find((s) => s.name === 'publish approval_granted')!;
    expect(grant.parentSpanId).toBe(wait.spanId);
    // the grant's consumers (orchestrator) continue from it, and the dispatch and execution follow
    expect(spans.some((s) => s.parentSpanId === grant.spanId && s.scope === 'warden-orchestrator')).toBe(true);
    expect(spans.some((s) => s.name === 'dispatch fs.write_file')).toBe(true);
  });
});
