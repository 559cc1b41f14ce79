import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import type { AddressInfo } from 'node:net';
import type { DataSource } from 'typeorm';
import { headers as natsHeaders } from '@nats-io/nats-core';
import type { PubAck } from '@nats-io/jetstream';
import type { Publisher } from '@warden/bus';
import { MAX_SUBMISSION_BYTES } from '@warden/contracts';
import { deriveId } from '@warden/kernel';
import { DATA_SOURCE, PUBLISHER, rebuildService, startService } from '@warden/runtime';
import { ensureStreams } from '@warden/bus';
import { createTestEnv, readAll, waitFor, type TestEnv } from '@warden/testing';
import { AppModule } from '../src/app.module';
import { loadConfig } from '../src/config';
import { rebuildTarget } from '../src/projections';
import { busSource } from '../src/submission/domain/submission';
import { ingestProjections } from '../src/submission/projections/submission.projection';
import { SubmissionService } from '../src/submission/submission.service';

// the project-level testTimeout is not applied per project; NATS/Postgres round trips need more than 5 s under load
jest.setTimeout(60_000);

interface Env {
  id: string;
  type: string;
  run_id: string | null;
  trace_id: string;
  correlation_id: string;
  producer: string;
  data: Record<string, unknown> & {
    submission?: Record<string, unknown> & { run_id: string };
    errors?: { path: string; message: string }[];
  };
}

let t: TestEnv;
let app: INestApplication;
let ds: DataSource;
let baseUrl: string;

const submission = (o: Record<string, unknown> = {}) => ({
  agent: { id: 'agent-7', role: 'dev' },
  session_id: 'sess-42',
  action: { tool: 'fs.write_file', args: { path: 'notes/a.md', content: 'hi' } },
  intent: 'write notes',
  ...o,
});

let uniq = 0;
const unique = (p: string) => `${p}-${Date.now().toString(36)}-${++uniq}`;

async function publish(body: unknown, opts: { msgId?: string; traceparent?: string } = {}): Promise<PubAck> {
  const h = natsHeaders();
  if (opts.traceparent) h.set('traceparent', opts.traceparent);
  const payload = body instanceof Uint8Array ? body : typeof body === 'string' ? body : JSON.stringify(body);
  return t.bus.js.publish(t.subjects.ingestTasks, payload, { msgID: opts.msgId, headers: h });
}

/** Waits until the ingest consumer has settled every message up to `seq`. */
async function settled(seq: number): Promise<void> {
  await waitFor(async () => {
    const info = await t.bus.jsm.consumers.info(t.subjects.streams.ingest, 'ingest-tasks');
    return info.ack_floor.stream_seq >= seq && info.num_ack_pending === 0;
  }, `ingest consumer to settle seq ${seq}`);
}

async function events(filter: string): Promise<Env[]> {
  return (await readAll(t.bus, t.subjects.streams.events, filter)).map((m) => m.json() as Env);
}
const received = () => events(t.subjects.eventsOfType('task_received'));
const rejections = () => events(t.subjects.rejectedAll);
const deadLetters = () => readAll(t.bus, t.subjects.streams.deadLetters, t.subjects.deadLettersAll);

async function metric(name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.split(' ').pop());
  }
  return 0;
}

beforeAll(async () => {
  t = await createTestEnv();
  app = await startService(AppModule.forRoot(loadConfig({ ...process.env, ...t.env, INGEST_PORT: '0' })), {
    service: 'ingest',
    port: 0,
  });
  ds = app.get<DataSource>(DATA_SOURCE);
  baseUrl = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
});

afterAll(async () => {
  await app?.close();
  await t?.cleanup();
});

describe('ingest bus intake', () => {
  it('is ready only with NATS, Postgres and Redis checked', async () => {
    const res = await fetch(`${baseUrl}/health/ready`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { checks: Record<string, { status: string }> };
    expect(body.checks).toEqual({ nats: { status: 'up' }, postgres: { status: 'up' }, redis: { status: 'up' } });
  });

  // runs first: it recreates the events stream, which the rebuild test at the end replays
  it('a failed publish is retried (nak) without leaving a row, and ends in exactly one run', async () => {
    await t.bus.jsm.streams.delete(t.subjects.streams.events);
    const naksBefore = await metric('warden_bus_messages_total', { consumer: 'ingest-tasks', outcome: 'nak' });
    const ack = await publish(submission({ agent: { id: 'agent-retry', role: 'dev' } }), { msgId: unique('retry') });
    await waitFor(
      async () =>
        (await metric('warden_bus_messages_total', { consumer: 'ingest-tasks', outcome: 'nak' })) > naksBefore,
      'a nak',
    );
    expect(await ds.query("SELECT 1 FROM ingest.submissions WHERE agent_id = 'agent-retry'")).toEqual([]);
    await ensureStreams(t.bus.jsm, t.subjects);
    const runId = deriveId('run', t.subjects.streams.ingest, String(ack.seq));
    await waitFor(
      async () => (await events(t.subjects.event(runId, 'task_received'))).length > 0,
      'task_received after retry',
    );
    await settled(ack.seq);
    expect(await events(t.subjects.event(runId, 'task_received'))).toHaveLength(1);
    expect(await ds.query("SELECT run_id FROM ingest.submissions WHERE agent_id = 'agent-retry'")).toEqual([
      { run_id: runId },
    ]);
    expect(await deadLetters()).toHaveLength(0);
  });

  it('a valid submission yields one task_received that keeps the client run_id and the traceparent trace id', async () => {
    const runId = '5d2c7f3a-1e4b-4c8d-9a6f-0b1c2d3e4f50';
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const msgId = unique('valid');
    const ack = await publish(submission({ run_id: runId }), {
      msgId,
      traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
    });
    const msgs = await waitFor(async () => {
      const m = await readAll(t.bus, t.subjects.streams.events, t.subjects.event(runId, 'task_received'));
      return m.length ? m : undefined;
    }, 'task_received');
    await settled(ack.seq);
    expect(msgs).toHaveLength(1);
    const env = msgs[0]!.json() as Env;
    expect(env).toMatchObject({
      id: deriveId('task_received', t.subjects.streams.ingest, String(ack.seq)),
      type: 'task_received',
      run_id: runId,
      trace_id: traceId,
      correlation_id: runId,
      producer: 'ingest',
    });
    expect(env.data).toEqual({
      submission: { ...submission(), run_id: runId },
      channel: 'bus',
      source_id: msgId,
    });
    const stored = await t.bus.jsm.streams.getMessage(t.subjects.streams.events, { seq: msgs[0]!.seq });
    expect(stored!.header.get('traceparent')).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-0[01]$`));
    expect(stored!.header.get('Nats-Msg-Id')).toBe(env.id);
    const rows: { agent_id: string; trace_id: string; source_stream: string; source_seq: string; event_id: string }[] =
      await ds.query(
        'SELECT agent_id, trace_id, source_stream, source_seq, event_id FROM ingest.submissions WHERE run_id = $1',
        [runId],
      );
    expect(rows).toEqual([
      {
        agent_id: 'agent-7',
        trace_id: traceId,
        source_stream: t.subjects.streams.ingest,
        source_seq: String(ack.seq),
        event_id: env.id,
      },
    ]);
  });

  it('without run_id or traceparent, assigns a run id and trace id derived from the message', async () => {
    const ack = await publish(submission({ agent: { id: 'agent-derived', role: 'dev' } }));
    const runId = deriveId('run', t.subjects.streams.ingest, String(ack.seq));
    const env = await waitFor(async () => (await events(t.subjects.event(runId, 'task_received')))[0], 'task_received');
    expect(env.trace_id).toMatch(/^[0-9a-f]{32}$/);
    expect(env.data.source_id).toBe(`${t.subjects.streams.ingest}:${ack.seq}`);
    expect(env.data.submission!.run_id).toBe(runId);
  });

  it('an invalid submission yields task_rejected with field paths, and no run, row or dead letter', async () => {
    const msgId = unique('invalid');
    const ack = await publish(
      { agent: { id: 'agent-bad', role: 'Dev' }, action: { tool: 'WriteFile' }, idempotencyKey: 'typo' },
      { msgId },
    );
    const rej = await waitFor(async () => (await events(t.subjects.rejected(msgId)))[0], 'task_rejected');
    await settled(ack.seq);
    expect(rej).toMatchObject({
      id: deriveId('task_rejected', t.subjects.streams.ingest, String(ack.seq)),
      type: 'task_rejected',
      run_id: null,
      correlation_id: msgId,
      producer: 'ingest',
    });
    expect(rej.data).toMatchObject({ channel: 'bus', source_id: msgId, agent_id: 'agent-bad' });
    const paths = rej.data.errors!.map((e) => e.path).sort();
    expect(paths).toEqual(['action.tool', 'agent.role', 'idempotencyKey']);
    for (const e of rej.data.errors!) expect(e.message.length).toBeGreaterThan(0);
    expect((await received()).filter((e) => e.data.source_id === msgId)).toEqual([]);
    expect(await ds.query("SELECT 1 FROM ingest.submissions WHERE agent_id = 'agent-bad'")).toEqual([]);
    expect(await deadLetters()).toHaveLength(0);
  });

  it('an oversize payload is rejected on the root path with a size message, not dead-lettered', async () => {
    const msgId = unique('big');
    const body = submission({
      agent: { id: 'agent-big', role: 'dev' },
      metadata: { blob: 'x'.repeat(MAX_SUBMISSION_BYTES) },
    });
    const ack = await publish(body, { msgId });
    const rej = await waitFor(async () => (await events(t.subjects.rejected(msgId)))[0], 'task_rejected');
    await settled(ack.seq);
    expect(rej.data.errors).toEqual([{ path: '', message: expect.stringMatching(/256 KiB/) }]);
    expect(rej.data.agent_id).toBe('agent-big');
    expect(await ds.query("SELECT 1 FROM ingest.submissions WHERE agent_id = 'agent-big'")).toEqual([]);
    expect(await deadLetters()).toHaveLength(0);
  });

  it('garbage bytes and non-JSON are rejected, acked and not dead-lettered; an unusable msg id gets a derived token', async () => {
    const before = await metric('warden_ingest_rejections_total', { channel: 'bus', reason: 'malformed' });
    const a = await publish(new Uint8Array([0xff, 0xfe, 0x00, 0x7b]), { msgId: unique('garbage') });
    const b = await publish('not json {', { msgId: 'has dots.and spaces' });
    const tokenB = deriveId('task_rejected', t.subjects.streams.ingest, String(b.seq));
    await settled(b.seq);
    const ra = await waitFor(
      async () =>
        (await rejections()).find((e) => e.id === deriveId('task_rejected', t.subjects.streams.ingest, String(a.seq))),
      'garbage rejection',
    );
    expect(ra.data.errors).toEqual([{ path: '', message: 'body is not valid UTF-8' }]);
    const rb = await waitFor(async () => (await events(t.subjects.rejected(tokenB)))[0], 'non-JSON rejection');
    expect(rb.correlation_id).toBe(tokenB);
    expect(rb.data.source_id).toBe('has dots.and spaces');
    expect(rb.data.errors![0]!.message).toMatch(/not valid JSON/);
    expect(await deadLetters()).toHaveLength(0);
    expect(await metric('warden_ingest_rejections_total', { channel: 'bus', reason: 'malformed' })).toBe(before + 2);
  });

  it('the same Nats-Msg-Id twice is one message (broker dedupe) and one run', async () => {
    const msgId = unique('twice');
    const body = submission({ agent: { id: 'agent-twice', role: 'dev' } });
    const first = await publish(body, { msgId });
    const second = await publish(body, { msgId });
    expect(second.duplicate).toBe(true);
    expect(second.seq).toBe(first.seq);
    await settled(first.seq);
    await waitFor(async () => (await received()).some((e) => e.data.source_id === msgId), 'task_received');
    expect((await received()).filter((e) => e.data.source_id === msgId)).toHaveLength(1);
  });

  it('the same agent + idempotency_key under different msg ids is one run; the duplicate is counted', async () => {
    const key = unique('idem');
    const before = await metric('warden_ingest_duplicates_total', { channel: 'bus' });
    const body = submission({ agent: { id: 'agent-idem', role: 'dev' }, idempotency_key: key });
    const msgIds = Array.from({ length: 8 }, () => unique('idem-msg'));
    const acks = await Promise.all(msgIds.map((msgId) => publish(body, { msgId })));
    await settled(Math.max(...acks.map((a) => a.seq)));
    const runs = (await received()).filter((e) => e.data.submission!.idempotency_key === key);
    expect(runs).toHaveLength(1);
    const rows: { run_id: string }[] = await ds.query(
      'SELECT run_id FROM ingest.submissions WHERE idempotency_key = $1',
      [key],
    );
    expect(rows.map((r) => r.run_id)).toEqual([runs[0]!.run_id]);
    expect(await metric('warden_ingest_duplicates_total', { channel: 'bus' })).toBe(before + 7);
    expect((await rejections()).filter((e) => msgIds.includes(e.data.source_id as string))).toEqual([]);
  });

  it('the same idempotency_key from two agents is two runs', async () => {
    const key = unique('shared-key');
    const a = await publish(submission({ agent: { id: 'agent-a', role: 'dev' }, idempotency_key: key }), {
      msgId: unique('a'),
    });
    const b = await publish(submission({ agent: { id: 'agent-b', role: 'dev' }, idempotency_key: key }), {
      msgId: unique('b'),
    });
    await settled(Math.max(a.seq, b.seq));
    const runs = await waitFor(async () => {
      const r = (await received()).filter((e) => e.data.submission!.idempotency_key === key);
      return r.length === 2 ? r : undefined;
    }, 'two runs');
    expect(new Set(runs.map((r) => r.run_id)).size).toBe(2);
    expect(runs.map((r) => (r.data.submission!.agent as { id: string }).id).sort()).toEqual(['agent-a', 'agent-b']);
  });

  it('a client run_id already used by a different submission is rejected on run_id; the first run stands', async () => {
    const runId = 'a3c1e2d4-5b6f-4a7e-8c9d-0e1f2a3b4c5d';
    const first = await publish(submission({ run_id: runId, agent: { id: 'agent-r1', role: 'dev' } }), {
      msgId: unique('r1'),
    });
    await settled(first.seq);
    const msgId = unique('r2');
    const second = await publish(submission({ run_id: runId, agent: { id: 'agent-r2', role: 'dev' } }), { msgId });
    await settled(second.seq);
    const rej = await waitFor(async () => (await events(t.subjects.rejected(msgId)))[0], 'task_rejected');
    expect(rej.data.errors).toEqual([{ path: 'run_id', message: 'run_id already in use' }]);
    expect(rej.data.agent_id).toBe('agent-r2');
    const runs = await events(t.subjects.event(runId, 'task_received'));
    expect(runs).toHaveLength(1);
    expect((runs[0]!.data.submission!.agent as { id: string }).id).toBe('agent-r1');
  });

  it('a client run_id reused with the same agent + key is a duplicate, not a rejection', async () => {
    const runId = 'b4d2f3e5-6c7a-4b8f-9d0e-1f2a3b4c5d6e';
    const key = unique('rk');
    const body = submission({ run_id: runId, agent: { id: 'agent-rk', role: 'dev' }, idempotency_key: key });
    const first = await publish(body, { msgId: unique('rk1') });
    const msgId = unique('rk2');
    const second = await publish(body, { msgId });
    await settled(Math.max(first.seq, second.seq));
    expect(await events(t.subjects.event(runId, 'task_received'))).toHaveLength(1);
    expect(await events(t.subjects.rejected(msgId))).toEqual([]);
  });

  it('handling the same delivery twice (redelivery after a crash) republishes the same event id and creates no second run', async () => {
    const service = app.get(SubmissionService);
    const source = busSource({ stream: t.subjects.streams.ingest, seq: 9_000_001, msgId: unique('redeliver') });
    const body = new TextEncoder().encode(
      JSON.stringify(submission({ agent: { id: 'agent-redeliver', role: 'dev' } })),
    );
    const one = await service.submit(source, body);
    const two = await service.submit(source, body);
    const eventId = deriveId('task_received', t.subjects.streams.ingest, '9000001');
    expect(one).toEqual({ kind: 'accepted', runId: deriveId('run', t.subjects.streams.ingest, '9000001'), eventId });
    expect(two).toEqual({ ...one, kind: 'redelivered' });
    const runs = (await received()).filter((e) => e.id === eventId);
    expect(runs).toHaveLength(1);
    expect(await ds.query('SELECT 1 FROM ingest.submissions WHERE event_id = $1', [eventId])).toHaveLength(1);

    // an invalid delivery handled twice publishes one rejection, with one id
    const badSource = busSource({ stream: t.subjects.streams.ingest, seq: 9_000_002, msgId: unique('redeliver-bad') });
    const r1 = await service.submit(badSource, new TextEncoder().encode('{}'));
    const r2 = await service.submit(badSource, new TextEncoder().encode('{}'));
    expect(r1).toEqual(r2);
    expect(await events(t.subjects.rejected(badSource.token!))).toHaveLength(1);
  });

  it('a projection rebuild from task_received events reproduces ingest.submissions', async () => {
    const snapshot = () =>
      ds.query(
        'SELECT run_id, agent_id, idempotency_key, trace_id, event_id, created_at FROM ingest.submissions ORDER BY run_id',
      );
    const before = await snapshot();
    expect(before.length).toBeGreaterThanOrEqual(8);
    // what `npm run projections:rebuild` runs: its own connections, through the service's rebuild target
    const positions = await rebuildService(rebuildTarget, { ...process.env, ...t.env });
    expect(positions['ingest#0']).toBeGreaterThan(0);
    expect(await snapshot()).toEqual(before);
    // and rebuilding again from the same log converges on the same rows
    const [projection] = ingestProjections(ds, t.bus, t.subjects, app.get<Publisher>(PUBLISHER));
    await projection!.rebuild();
    expect(await snapshot()).toEqual(before);
  });
});
