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
    const badMsgId = unique('retry-bad');
    const bad = await publish({ agent: { id: 'agent-retry-bad' } }, { msgId: badMsgId });
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
    await settled(Math.max(ack.seq, bad.seq));
    expect(await events(t.subjects.event(runId, 'task_received'))).toHaveLength(1);
    expect(await ds.query("SELECT run_id FROM ingest.submissions WHERE agent_id = 'agent-retry'")).toEqual([
      { run_id: runId },
    ]);
    // the rejection, whose publish failed too, was retried and published once
    expect(await events(t.subjects.rejected(badMsgId))).toHaveLength(1);
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

  it('one batch resolves submissions that collide with each other in batch order, and again the same on redelivery', async () => {
    const service = app.get(SubmissionService);
    const key = unique('batch-key');
    const key2 = unique('batch-key2');
    const clashRun = 'c5e3a4f6-7d8b-4c9a-8e1f-2a3b4c5d6e7f';
    const ownRun = 'd6f4b5a7-8e9c-4dab-9f2a-3b4c5d6e7f80';
    const src = (n: number) =>
      busSource({ stream: t.subjects.streams.ingest, seq: 9_100_000 + n, msgId: unique(`b${n}`) });
    const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
    const sources = [0, 1, 2, 3, 4, 5, 6].map(src);
    const keyed = enc(submission({ agent: { id: 'agent-sb', role: 'dev' }, idempotency_key: key }));
    const clashA = enc(submission({ run_id: clashRun, agent: { id: 'agent-sb-r1', role: 'dev' } }));
    const clashB = enc(submission({ run_id: clashRun, agent: { id: 'agent-sb-r2', role: 'dev' } }));
    const own = enc(submission({ run_id: ownRun, agent: { id: 'agent-sb-own', role: 'dev' }, idempotency_key: key2 }));
    const items = [
      { source: sources[0]!, body: keyed },
      { source: sources[1]!, body: keyed }, // same agent + key as [0]
      { source: sources[2]!, body: clashA },
      { source: sources[3]!, body: clashB }, // client run id of [2], another submission
      { source: sources[4]!, body: enc({}) },
      { source: sources[2]!, body: clashA }, // the very delivery [2] again
      { source: sources[5]!, body: own },
      { source: sources[6]!, body: own }, // same run id, agent and key as [6]: a duplicate
    ];
    const runOf = (n: number) => deriveId('run', t.subjects.streams.ingest, String(9_100_000 + n));
    const evOf = (n: number) => deriveId('task_received', t.subjects.streams.ingest, String(9_100_000 + n));
    const rejOf = (n: number) => deriveId('task_rejected', t.subjects.streams.ingest, String(9_100_000 + n));
    const runIdError = [{ path: 'run_id', message: 'run_id already in use' }];
    const expected = [
      { kind: 'accepted', runId: runOf(0), eventId: evOf(0) },
      { kind: 'duplicate', runId: runOf(0) },
      { kind: 'accepted', runId: clashRun, eventId: evOf(2) },
      { kind: 'rejected', eventId: rejOf(3), token: sources[3]!.token, errors: runIdError },
      { kind: 'rejected', eventId: rejOf(4), token: sources[4]!.token, errors: expect.any(Array) },
      { kind: 'redelivered', runId: clashRun, eventId: evOf(2) },
      { kind: 'accepted', runId: ownRun, eventId: evOf(5) },
      { kind: 'duplicate', runId: ownRun },
    ];
    const first = await service.submitAll(items);
    expect(first).toEqual(expected.map((value) => ({ status: 'fulfilled', value })));

    // the whole batch redelivered: nothing new, every event republished with the same id
    const again = await service.submitAll(items);
    expect(again.map((r) => (r.status === 'fulfilled' ? r.value.kind : r.reason))).toEqual([
      'redelivered',
      'duplicate',
      'redelivered',
      'rejected',
      'rejected',
      'redelivered',
      'redelivered',
      'duplicate',
    ]);

    const runs = (await received()).filter((e) => [runOf(0), clashRun, ownRun].includes(e.run_id!));
    expect(runs.map((e) => e.id).sort()).toEqual([evOf(0), evOf(2), evOf(5)].sort());
    expect((runs.find((e) => e.run_id === clashRun)!.data.submission!.agent as { id: string }).id).toBe('agent-sb-r1');
    const tokens = sources.map((s) => s.token!);
    const rejected = (await rejections()).filter((e) => tokens.includes(e.correlation_id));
    expect(rejected.map((e) => e.id).sort()).toEqual([rejOf(3), rejOf(4)].sort());
    expect(rejected.find((e) => e.id === rejOf(3))!.data).toMatchObject({
      errors: runIdError,
      agent_id: 'agent-sb-r2',
    });
    const rows: { run_id: string; event_id: string }[] = await ds.query(
      "SELECT run_id, event_id FROM ingest.submissions WHERE agent_id LIKE 'agent-sb%' ORDER BY event_id",
    );
    expect(rows).toEqual(
      [
        { run_id: runOf(0), event_id: evOf(0) },
        { run_id: clashRun, event_id: evOf(2) },
        { run_id: ownRun, event_id: evOf(5) },
      ].sort((a, b) => a.event_id.localeCompare(b.event_id)),
    );
  });

  it('a row Postgres refuses fails only its own submission; the rest of the batch commits', async () => {
    const service = app.get(SubmissionService);
    const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
    const good = (n: number) => ({
      source: busSource({ stream: t.subjects.streams.ingest, seq: 9_200_000 + n }),
      body: enc(submission({ agent: { id: `agent-poison-ok-${n}`, role: 'dev' } })),
    });
    // a sequence beyond bigint: the insert of this row fails with a data error
    const poison = {
      source: busSource({ stream: t.subjects.streams.ingest, seq: 2 ** 64 }),
      body: enc(submission({ agent: { id: 'agent-poison', role: 'dev' } })),
    };
    const results = await service.submitAll([good(1), good(2), poison, good(3)]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    for (const r of results) if (r.status === 'fulfilled') expect(r.value.kind).toBe('accepted');
    const rows: { agent_id: string }[] = await ds.query(
      "SELECT agent_id FROM ingest.submissions WHERE agent_id LIKE 'agent-poison%' ORDER BY agent_id",
    );
    expect(rows.map((r) => r.agent_id)).toEqual(['agent-poison-ok-1', 'agent-poison-ok-2', 'agent-poison-ok-3']);
    const runs = (await received()).filter((e) =>
      ((e.data.submission!.agent as { id: string }).id ?? '').startsWith('agent-poison'),
    );
    expect(runs).toHaveLength(3);
    // and in the single-submission API, the failure is thrown (transient: the caller retries)
    await expect(service.submit(poison.source, poison.body)).rejects.toThrow(/out of range/);
  });

  it('values inlined into the admission insert are data, never SQL: quotes, backslashes and statements are stored as sent', async () => {
    const service = app.get(SubmissionService);
    const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
    const nasty = [
      `agent-sql-'); DROP TABLE ingest.submissions; --`,
      `agent-sql-\\'quote\\`,
      `agent-sql-$1::text E'\\x' ü ✓`,
    ];
    const key = `k'); DELETE FROM ingest.submissions; -- \\`;
    const results = await service.submitAll(
      nasty.map((id, n) => ({
        source: busSource({ stream: t.subjects.streams.ingest, seq: 9_250_000 + n }),
        body: enc(submission({ agent: { id, role: 'dev' }, idempotency_key: key })),
      })),
    );
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value.kind : String(r.reason)))).toEqual([
      'accepted',
      'accepted',
      'accepted',
    ]);
    const rows: { agent_id: string; idempotency_key: string }[] = await ds.query(
      "SELECT agent_id, idempotency_key FROM ingest.submissions WHERE agent_id LIKE 'agent-sql-%' ORDER BY agent_id",
    );
    expect(rows).toEqual([...nasty].sort().map((id) => ({ agent_id: id, idempotency_key: key })));
    // the same agent and key again: a duplicate of the stored row, found by the same values
    const again = await service.submitAll([
      {
        source: busSource({ stream: t.subjects.streams.ingest, seq: 9_250_010 }),
        body: enc(submission({ agent: { id: nasty[0]!, role: 'dev' }, idempotency_key: key })),
      },
    ]);
    expect(again[0]!.status === 'fulfilled' && again[0]!.value.kind).toBe('duplicate');
  });

  it('two concurrent batches with the same new idempotency keys in opposite orders do not deadlock: one run per key', async () => {
    const service = app.get(SubmissionService);
    const tag = unique('cross');
    const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
    // large enough that the two inserts overlap: inserted as given, Postgres aborts one as a deadlock
    const keys = Array.from({ length: 1500 }, (_, i) => `${tag}-${i}`);
    const batch = (base: number, order: string[]) =>
      order.map((key, i) => ({
        source: busSource({ stream: t.subjects.streams.ingest, seq: base + i }),
        body: enc(submission({ agent: { id: `${tag}-agent`, role: 'dev' }, idempotency_key: key })),
      }));
    for (let round = 0; round < 2; round++) {
      const roundKeys = keys.map((k) => `${k}-r${round}`);
      const base = 9_300_000 + round * 10_000;
      const [a, b] = await Promise.all([
        service.submitAll(batch(base, roundKeys)),
        service.submitAll(batch(base + 5000, [...roundKeys].reverse())),
      ]);
      const outcomes = [...a, ...b].map((r) => (r.status === 'fulfilled' ? r.value.kind : String(r.reason)));
      expect(outcomes.filter((k) => k !== 'accepted' && k !== 'duplicate')).toEqual([]);
      expect(outcomes.filter((k) => k === 'accepted')).toHaveLength(roundKeys.length);
    }
    const [{ n }]: [{ n: string }] = await ds.query(
      'SELECT count(DISTINCT idempotency_key) AS n FROM ingest.submissions WHERE agent_id = $1',
      [`${tag}-agent`],
    );
    expect(Number(n)).toBe(2 * keys.length);
  });

  it('a burst that piled up while ingest was down is taken in batches and settles every message exactly once', async () => {
    const tag = unique('burst');
    const msgId = (n: string) => `${tag}-${n}`;
    const accepted0 = await metric('warden_ingest_submissions_total', { channel: 'bus', outcome: 'accepted' });
    const duplicates0 = await metric('warden_ingest_duplicates_total', { channel: 'bus' });
    await app.close();

    const clashRun = 'e7a5c6b8-9fad-4ebc-8a3b-4c5d6e7f8091';
    const twinRun = 'f8b6d7c9-a0be-4fcd-9b4c-5d6e7f8091a2';
    const bodies: [string, unknown][] = [];
    for (let i = 0; i < 60; i++)
      bodies.push([`ok-${i}`, submission({ agent: { id: `${tag}-agent-${i}`, role: 'dev' } })]);
    for (let k = 0; k < 5; k++)
      for (let c = 0; c < 4; c++)
        bodies.push([
          `idem-${k}-${c}`,
          submission({ agent: { id: `${tag}-idem`, role: 'dev' }, idempotency_key: `${tag}-key-${k}` }),
        ]);
    for (let c = 0; c < 3; c++)
      bodies.push([`clash-${c}`, submission({ run_id: clashRun, agent: { id: `${tag}-clash-${c}`, role: 'dev' } })]);
    for (let c = 0; c < 2; c++)
      bodies.push([
        `twin-${c}`,
        submission({ run_id: twinRun, agent: { id: `${tag}-twin`, role: 'dev' }, idempotency_key: `${tag}-twin` }),
      ]);
    for (let i = 0; i < 10; i++)
      bodies.push([`bad-${i}`, { agent: { id: `${tag}-bad`, role: 'Dev' }, action: { tool: 'fs.write_file' } }]);
    bodies.push(['garbage', 'not json {']);
    bodies.push(['nul', submission({ agent: { id: `${tag}\u0000nul`, role: 'dev' } })]);
    // interleave kinds, so collisions and refusals share batches with valid submissions
    const order = bodies.map((b, i) => [b, (i * 37) % bodies.length] as const).sort((a, b) => a[1] - b[1]);
    const acks = await Promise.all(order.map(([[name, body]]) => publish(body, { msgId: msgId(name) })));
    const seqOf = new Map(order.map(([[name]], i) => [name, acks[i]!.seq]));

    const batches = jest.spyOn(SubmissionService.prototype, 'submitAll');
    try {
      app = await startService(AppModule.forRoot(loadConfig({ ...process.env, ...t.env, INGEST_PORT: '0' })), {
        service: 'ingest',
        port: 0,
      });
      ds = app.get<DataSource>(DATA_SOURCE);
      baseUrl = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
      await settled(Math.max(...acks.map((a) => a.seq)));
      const sizes = batches.mock.calls.map(([items]) => items.length);
      expect(sizes.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(bodies.length);
      expect(Math.max(...sizes)).toBeGreaterThan(1);
    } finally {
      batches.mockRestore();
    }

    const mine = (e: Env) => String(e.data.source_id).startsWith(`${tag}-`);
    const runs = (await received()).filter(mine);
    const refused = (await rejections()).filter(mine);
    const name = (e: Env) => String(e.data.source_id).slice(tag.length + 1);
    // one event per run, never two for one message
    expect(new Set(runs.map((e) => e.id)).size).toBe(runs.length);
    expect(new Set(refused.map((e) => e.id)).size).toBe(refused.length);

    const okRuns = runs.filter((e) => name(e).startsWith('ok-'));
    expect(okRuns).toHaveLength(60);
    for (const e of okRuns)
      expect(e.run_id).toBe(deriveId('run', t.subjects.streams.ingest, String(seqOf.get(name(e)))));
    for (let k = 0; k < 5; k++)
      expect(runs.filter((e) => e.data.submission!.idempotency_key === `${tag}-key-${k}`)).toHaveLength(1);
    const clash = runs.filter((e) => e.run_id === clashRun);
    expect(clash).toHaveLength(1);
    const twin = runs.filter((e) => e.run_id === twinRun);
    expect(twin).toHaveLength(1);
    expect(runs).toHaveLength(60 + 5 + 1 + 1);

    // the two clash messages that lost are refused on run_id; nothing else about clashes or twins
    const clashRefused = refused.filter((e) => name(e).startsWith('clash-'));
    expect(clashRefused.map(name).sort()).toEqual(
      ['clash-0', 'clash-1', 'clash-2'].filter((n) => n !== name(clash[0]!)).sort(),
    );
    for (const e of clashRefused) expect(e.data.errors).toEqual([{ path: 'run_id', message: 'run_id already in use' }]);
    expect(refused.filter((e) => name(e).startsWith('twin-') || name(e).startsWith('idem-'))).toEqual([]);
    const badRefused = refused.filter((e) => name(e).startsWith('bad-'));
    expect(badRefused).toHaveLength(10);
    for (const e of badRefused) expect(e.data.errors!.map((x) => x.path)).toEqual(['agent.role']);
    expect(refused.find((e) => name(e) === 'garbage')!.data.errors![0]!.message).toMatch(/not valid JSON/);
    expect(refused.find((e) => name(e) === 'nul')!.data.errors).toEqual([
      { path: 'agent.id', message: 'must not contain NUL (U+0000) characters' },
    ]);
    expect(refused).toHaveLength(2 + 10 + 1 + 1);

    expect(await metric('warden_ingest_duplicates_total', { channel: 'bus' })).toBe(duplicates0 + 15 + 1);
    expect(await metric('warden_ingest_submissions_total', { channel: 'bus', outcome: 'accepted' })).toBe(
      accepted0 + 67,
    );
    const [{ n }]: [{ n: string }] = await ds.query(
      'SELECT count(*) AS n FROM ingest.submissions WHERE agent_id LIKE $1',
      [`${tag}-%`],
    );
    expect(Number(n)).toBe(67);
    expect(await deadLetters()).toHaveLength(0);
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
