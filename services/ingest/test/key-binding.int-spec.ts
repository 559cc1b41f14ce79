import 'reflect-metadata';
import { randomBytes, randomUUID } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import type { AddressInfo } from 'node:net';
import type { DataSource } from 'typeorm';
import { Logger } from '@warden/observability';
import { DATA_SOURCE, startService } from '@warden/runtime';
import { createTestEnv, readAll, waitFor, type TestEnv } from '@warden/testing';
import { AppModule } from '../src/app.module';
import { loadConfig } from '../src/config';

/**
 * Every key speaks for one agent: a bound key (one agent, or roles + an agent-id glob) is refused
 * `403` for any other agent id or role before anything is stored or published; an unbound (legacy)
 * key still works, with a deprecation warning. On the bus, `warden.ingest.tasks.<role>` takes
 * submissions of that role only. Real NATS, Postgres and Redis.
 */
interface Env {
  id: string;
  type: string;
  run_id: string | null;
  data: Record<string, unknown> & { errors?: { path: string; message: string }[] };
}

const ADMIN = `admin-${randomBytes(16).toString('hex')}`;
let t: TestEnv;
let app: INestApplication;
let url: string;
let ds: DataSource;

const task = (agent: { id: string; role: string }, o: Record<string, unknown> = {}) => ({
  run_id: randomUUID(),
  agent,
  action: { tool: 'fs.read_file', args: { path: 'README.md' } },
  ...o,
});

async function call(
  method: string,
  path: string,
  opts: { token?: string; body?: unknown } = {},
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers of many shapes, asserted field by field
): Promise<{ status: number; headers: Headers; body: any }> {
  const res = await fetch(url + path, {
    method,
    headers: {
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

async function createKey(binding: Record<string, unknown>): Promise<{ id: string; key: string }> {
  const r = await call('POST', '/v1/keys', {
    token: ADMIN,
    body: { name: `k-${randomBytes(3).toString('hex')}`, owner: 'team-bind', ...binding },
  });
  expect(r.status).toBe(201);
  return r.body as { id: string; key: string };
}

const events = async (filter: string) =>
  (await readAll(t.bus, t.subjects.streams.events, filter)).map((m) => m.json() as Env);
const rows = async (runId: string) =>
  (await ds.query('SELECT run_id FROM ingest.submissions WHERE run_id = $1', [runId])) as unknown[];

/** A refusal stored and published nothing: no row, no task_received, no task_rejected for the run. */
async function expectNothingFor(runId: string, agentId: string): Promise<void> {
  // what was published before it would be in the stream by now: the 2xx path answers after the PubAck
  expect(await rows(runId)).toEqual([]);
  expect(await events(t.subjects.event(runId, 'task_received'))).toEqual([]);
  expect((await events(t.subjects.rejectedAll)).filter((e) => e.data.agent_id === agentId)).toEqual([]);
}

function expectMismatch(r: { status: number; headers: Headers; body: unknown }, paths: string[]): void {
  expect(r.status).toBe(403);
  expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(r.body).toMatchObject({
    status: 403,
    title: 'KEY.AGENT_MISMATCH',
    type: 'urn:warden:error:KEY.AGENT_MISMATCH',
  });
  expect((r.body as { errors: { path: string }[] }).errors.map((e) => e.path)).toEqual(paths);
  expect(r.headers.get('deprecation')).toBeNull();
}

beforeAll(async () => {
  t = await createTestEnv();
  const config = loadConfig({
    ...process.env,
    ...t.env,
    INGEST_PORT: '0',
    WARDEN_BOOTSTRAP_ADMIN_TOKEN: ADMIN,
    WARDEN_SECRETS_KEY: randomBytes(32).toString('base64'),
  });
  app = await startService(AppModule.forRoot(config), { service: 'ingest', port: 0, host: '127.0.0.1' });
  url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  ds = app.get<DataSource>(DATA_SOURCE);
});

afterAll(async () => {
  jest.restoreAllMocks();
  await app?.close();
  await t?.cleanup();
});

describe('a key bound to one agent', () => {
  let bound: { id: string; key: string };
  beforeAll(async () => {
    bound = await createKey({ agent: { id: 'agent-bound', role: 'dev' } });
  });

  it('submits as its own agent (202, no deprecation warning); api_key_created carries the binding', async () => {
    const p = task({ id: 'agent-bound', role: 'dev' });
    const r = await call('POST', '/v1/tasks', { token: bound.key, body: p });
    expect(r.status).toBe(202);
    expect(r.body.run_id).toBe(p.run_id);
    expect(r.headers.get('deprecation')).toBeNull();
    expect(r.headers.get('warning')).toBeNull();
    const [received] = await events(t.subjects.event(p.run_id, 'task_received'));
    expect(received!.data).toMatchObject({ submitted_by: { kind: 'api_key', id: bound.id } });
    const [created] = await events(t.subjects.directory(bound.id, 'api_key_created'));
    expect(created!.data).toMatchObject({ key_id: bound.id, agent: { id: 'agent-bound', role: 'dev' } });
    expect(created!.data).not.toHaveProperty('roles');
  });

  it('naming another agent id is 403 KEY.AGENT_MISMATCH on agent.id; nothing is stored or published', async () => {
    const p = task({ id: 'agent-impostor', role: 'dev' });
    expectMismatch(await call('POST', '/v1/tasks', { token: bound.key, body: p }), ['agent.id']);
    await expectNothingFor(p.run_id, 'agent-impostor');
  });

  it('naming another role (ops) is 403 on agent.role; both wrong names both paths', async () => {
    const p = task({ id: 'agent-bound', role: 'ops' });
    expectMismatch(await call('POST', '/v1/tasks', { token: bound.key, body: p }), ['agent.role']);
    await expectNothingFor(p.run_id, 'agent-bound');
    const q = task({ id: 'agent-other', role: 'ops' });
    expectMismatch(await call('POST', '/v1/tasks', { token: bound.key, body: q }), ['agent.id', 'agent.role']);
    await expectNothingFor(q.run_id, 'agent-other');
  });

  it('a mismatch is refused even when the same idempotency key made a run for the right agent', async () => {
    const key = `idem-${randomBytes(3).toString('hex')}`;
    const ok = await call('POST', '/v1/tasks', {
      token: bound.key,
      body: task({ id: 'agent-bound', role: 'dev' }, { idempotency_key: key }),
    });
    expect(ok.status).toBe(202);
    const p = task({ id: 'agent-bound', role: 'ops' }, { idempotency_key: key });
    expectMismatch(await call('POST', '/v1/tasks', { token: bound.key, body: p }), ['agent.role']);
  });

  it('an invalid body is still 400 with paths (validation comes first)', async () => {
    const r = await call('POST', '/v1/tasks', { token: bound.key, body: { agent: { id: 'agent-bound' } } });
    expect(r.status).toBe(400);
  });

  it('rotation keeps the binding: the new key is bound the same way, and listed so', async () => {
    const r = await call('POST', `/v1/keys/${bound.id}/rotate`, { token: ADMIN, body: { grace_seconds: 60 } });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ agent: { id: 'agent-bound', role: 'dev' }, replaces: bound.id });
    const fresh = r.body as { id: string; key: string };
    const p = task({ id: 'agent-bound', role: 'ops' });
    expectMismatch(await call('POST', '/v1/tasks', { token: fresh.key, body: p }), ['agent.role']);
    expect(
      (await call('POST', '/v1/tasks', { token: fresh.key, body: task({ id: 'agent-bound', role: 'dev' }) })).status,
    ).toBe(202);
    const list = await call('GET', '/v1/keys', { token: ADMIN });
    const listed = (list.body.keys as { id: string }[]).find((k) => k.id === fresh.id);
    expect(listed).toMatchObject({ agent: { id: 'agent-bound', role: 'dev' }, roles: null, agent_pattern: null });
  });
});

describe('a harness key: roles + an agent-id pattern', () => {
  let harness: { id: string; key: string };
  beforeAll(async () => {
    harness = await createKey({ roles: ['dev', 'research'], agent_pattern: 'harness-*' });
  });

  it('admits any agent id matching the pattern, under any of its roles', async () => {
    for (const agent of [
      { id: 'harness-1', role: 'dev' },
      { id: 'harness-2', role: 'research' },
    ]) {
      const r = await call('POST', '/v1/tasks', { token: harness.key, body: task(agent) });
      expect(r.status).toBe(202);
      expect(r.headers.get('deprecation')).toBeNull();
    }
  });

  it('refuses an agent id outside the pattern (agent.id) and a role outside the list (agent.role)', async () => {
    const outside = task({ id: 'intruder-1', role: 'dev' });
    expectMismatch(await call('POST', '/v1/tasks', { token: harness.key, body: outside }), ['agent.id']);
    await expectNothingFor(outside.run_id, 'intruder-1');
    const ops = task({ id: 'harness-3', role: 'ops' });
    expectMismatch(await call('POST', '/v1/tasks', { token: harness.key, body: ops }), ['agent.role']);
    await expectNothingFor(ops.run_id, 'harness-3');
  });

  it('GET /v1/keys shows the binding', async () => {
    const list = await call('GET', '/v1/keys', { token: ADMIN });
    expect((list.body.keys as { id: string }[]).find((k) => k.id === harness.id)).toMatchObject({
      agent: null,
      roles: ['dev', 'research'],
      agent_pattern: 'harness-*',
    });
  });
});

describe('an unbound (legacy) key', () => {
  it('still submits (202) with Deprecation and Warning headers, and a log line naming the key id, never the key', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn');
    const legacy = await createKey({});
    const p = task({ id: 'agent-anything', role: 'ops' });
    const r = await call('POST', '/v1/tasks', { token: legacy.key, body: p });
    expect(r.status).toBe(202);
    expect(r.headers.get('deprecation')).toBe('true');
    expect(r.headers.get('warning')).toBe(
      '299 - "API key is not bound to an agent; bind it (POST /v1/keys with agent)"',
    );
    const lines = warn.mock.calls.filter(([msg]) => /not bound to an agent/.test(msg));
    expect(lines).toEqual([[expect.any(String), { key_id: legacy.id }]]);
    expect(JSON.stringify(warn.mock.calls)).not.toContain(legacy.key);
    warn.mockRestore();
    const list = await call('GET', '/v1/keys', { token: ADMIN });
    expect((list.body.keys as { id: string }[]).find((k) => k.id === legacy.id)).toMatchObject({
      agent: null,
      roles: null,
      agent_pattern: null,
    });
  });
});

describe('POST /v1/keys validates the binding', () => {
  it.each([
    [{ agent: { id: 'a', role: 'dev' }, roles: ['dev'] }, 'roles'],
    [{ agent: { id: 'a', role: 'dev' }, agent_pattern: 'a*' }, 'agent_pattern'],
    [{ agent_pattern: 'h-*' }, 'roles'],
    [{ agent: { id: 'a', role: 'Dev!' } }, 'agent.role'],
    [{ agent: { id: '', role: 'dev' } }, 'agent.id'],
    [{ roles: [] }, 'roles'],
  ])('%j is 400 on %s', async (binding, path) => {
    const r = await call('POST', '/v1/keys', { token: ADMIN, body: { name: 'bad', owner: 'o', ...binding } });
    expect(r.status).toBe(400);
    expect((r.body as { errors: { path: string }[] }).errors.map((e) => e.path)).toContain(path);
  });
});

describe('on the bus: warden.ingest.tasks.<role> speaks for that role only', () => {
  const publish = (subject: string, body: unknown, msgId: string) =>
    t.bus.js.publish(subject, JSON.stringify(body), { msgID: msgId });

  it('the stream captures the per-role subject and a durable consumer takes it', async () => {
    const ack = await publish(t.subjects.ingestTasksOf('dev'), task({ id: 'agent-bus', role: 'dev' }), randomUUID());
    expect(ack.stream).toBe(t.subjects.streams.ingest);
    const info = await t.bus.jsm.consumers.info(t.subjects.streams.ingest, 'ingest-tasks-role');
    expect(info.config.filter_subject).toBe(t.subjects.ingestTasksByRole);
  });

  it('a submission of the subject role becomes task_received', async () => {
    const p = task({ id: 'agent-bus', role: 'research' });
    await publish(t.subjects.ingestTasksOf('research'), p, randomUUID());
    const [received] = await waitFor(async () => {
      const e = await events(t.subjects.event(p.run_id, 'task_received'));
      return e.length ? e : undefined;
    }, 'task_received for the role subject');
    expect(received!.data).toMatchObject({ channel: 'bus', submission: { agent: { role: 'research' } } });
  });

  it('another role on the role subject is task_rejected on agent.role; no run, no row', async () => {
    const msgId = `role-mismatch-${randomBytes(4).toString('hex')}`;
    const p = task({ id: 'agent-bus-ops', role: 'ops' });
    await publish(t.subjects.ingestTasksOf('dev'), p, msgId);
    const [rejected] = await waitFor(async () => {
      const e = await events(t.subjects.rejected(msgId));
      return e.length ? e : undefined;
    }, 'task_rejected for the mismatched role');
    expect(rejected!.data).toMatchObject({
      channel: 'bus',
      agent_id: 'agent-bus-ops',
      errors: [{ path: 'agent.role', message: expect.stringContaining('"dev"') }],
    });
    expect(await events(t.subjects.event(p.run_id, 'task_received'))).toEqual([]);
    expect(await rows(p.run_id)).toEqual([]);
  });

  it('the unscoped subject keeps taking any role (open deployments, services)', async () => {
    const p = task({ id: 'agent-open', role: 'ops' });
    await publish(t.subjects.ingestTasks, p, randomUUID());
    await waitFor(
      async () => (await events(t.subjects.event(p.run_id, 'task_received'))).length === 1,
      'task_received on the unscoped subject',
    );
  });
});
