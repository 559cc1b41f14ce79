import 'reflect-metadata';
import { randomBytes, randomUUID } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import type { AddressInfo } from 'node:net';
import type { DataSource } from 'typeorm';
import Redis from 'ioredis';
import { DATA_SOURCE, startService } from '@warden/runtime';
import { createTestEnv, readAll, waitFor, TEST_REDIS_URL, type TestEnv } from '@warden/testing';
import { AppModule } from '../src/app.module';
import { loadConfig } from '../src/config';
import { signDelivery } from '../src/webhooks/domain/signature';

interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  errors?: { path: string; message: string }[];
}
interface Env {
  id: string;
  type: string;
  run_id: string | null;
  data: Record<string, unknown> & { submission?: Record<string, unknown>; channel?: string };
}

const ADMIN = `admin-${randomBytes(16).toString('hex')}`;
let t: TestEnv;
let a: INestApplication; // replica A: generous rate limit
let b: INestApplication; // replica B: tiny rate limit, and the "other replica" for revocation
let urlA: string;
let urlB: string;
let ds: DataSource;
let redis: Redis;

const submission = (o: Record<string, unknown> = {}) => ({
  agent: { id: 'agent-http', role: 'dev' },
  session_id: 'sess-http',
  action: { tool: 'fs.write_file', args: { path: 'notes/a.md', content: 'hi' } },
  ...o,
});
let uniq = 0;
const unique = (p: string) => `${p}-${Date.now().toString(36)}-${++uniq}`;

async function start(extra: Record<string, string>): Promise<[INestApplication, string]> {
  const config = loadConfig({
    ...process.env,
    ...t.env,
    INGEST_PORT: '0',
    WARDEN_BOOTSTRAP_ADMIN_TOKEN: ADMIN,
    WARDEN_SECRETS_KEY: secretsKey,
    ...extra,
  });
  const app = await startService(AppModule.forRoot(config), { service: 'ingest', port: 0, host: '127.0.0.1' });
  return [app, `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`];
}
const secretsKey = randomBytes(32).toString('base64');

async function call(
  base: string,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; raw?: string | Uint8Array; headers?: Record<string, string> } = {},
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers of many shapes, asserted field by field
): Promise<{ status: number; headers: Headers; body: any }> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | Uint8Array | undefined;
  if (opts.raw !== undefined) body = opts.raw;
  else if (opts.body !== undefined) body = JSON.stringify(opts.body);
  if (body !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
  const res = await fetch(base + path, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    /* keep text */
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

const createKey = async (name = unique('key'), base = urlA) => {
  const r = await call(base, 'POST', '/v1/keys', { token: ADMIN, body: { name, owner: 'team-x' } });
  expect(r.status).toBe(201);
  return r.body as { id: string; key: string };
};
const postTask = (key: string, body: unknown, base = urlA, headers: Record<string, string> = {}) =>
  call(base, 'POST', '/v1/tasks', { token: key, body, headers });

const events = async (filter: string) =>
  (await readAll(t.bus, t.subjects.streams.events, filter)).map((m) => m.json() as Env);
const receivedFor = (runId: string) => events(t.subjects.event(runId, 'task_received'));

function expectProblem(r: { status: number; headers: Headers; body: Problem }, status: number) {
  expect(r.status).toBe(status);
  expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(r.body).toMatchObject({ status, type: expect.any(String), title: expect.any(String) });
}

beforeAll(async () => {
  t = await createTestEnv();
  [a, urlA] = await start({ INGEST_RATE_LIMIT_PER_SEC: '10000', INGEST_RATE_LIMIT_BURST: '10000' });
  [b, urlB] = await start({ INGEST_RATE_LIMIT_PER_SEC: '1', INGEST_RATE_LIMIT_BURST: '2' });
  ds = a.get<DataSource>(DATA_SOURCE);
  redis = new Redis(TEST_REDIS_URL);
});

afterAll(async () => {
  await a?.close();
  await b?.close();
  redis?.disconnect();
  await t?.cleanup();
});

describe('POST /v1/tasks', () => {
  let key: { id: string; key: string };
  beforeAll(async () => {
    key = await createKey('tasks-main');
  });

  it('accepts a valid submission with 202 only once task_received is in the stream and the row committed', async () => {
    const r = await postTask(key.key, submission({ intent: 'first' }));
    expect(r.status).toBe(202);
    expect(r.body).toEqual({ run_id: expect.any(String), status: 'received', duplicate: false });
    const runId = r.body.run_id as string;
    // no waiting: the answer came after the publish was acked and the row committed
    const evs = await receivedFor(runId);
    expect(evs).toHaveLength(1);
    expect(evs[0]!.data).toMatchObject({
      channel: 'http',
      submitted_by: { kind: 'api_key', id: key.id, owner: 'team-x' },
      submission: { ...submission({ intent: 'first' }), run_id: runId },
    });
    expect(await ds.query('SELECT agent_id FROM ingest.submissions WHERE run_id = $1', [runId])).toEqual([
      { agent_id: 'agent-http' },
    ]);
  });

  it('keeps a W3C traceparent as the run trace id', async () => {
    const traceId = randomBytes(16).toString('hex');
    const r = await postTask(key.key, submission(), urlA, { traceparent: `00-${traceId}-00f067aa0ba902b7-01` });
    expect(r.status).toBe(202);
    const [env] = await receivedFor(r.body.run_id);
    expect((env as unknown as { trace_id: string }).trace_id).toBe(traceId);
  });

  it('401 without a token, with an unknown key, and with a malformed header', async () => {
    expectProblem(await call(urlA, 'POST', '/v1/tasks', { body: submission() }), 401);
    expectProblem(await postTask('wk_' + randomBytes(32).toString('base64url'), submission()), 401);
    expectProblem(await postTask('', submission(), urlA, { authorization: 'Basic abc' }), 401);
  });

  it('403 for an operator token: this route takes API keys; and an API key cannot manage keys', async () => {
    expectProblem(await postTask(ADMIN, submission()), 403);
    expectProblem(await call(urlA, 'GET', '/v1/keys', { token: key.key }), 403);
    expectProblem(await call(urlA, 'POST', '/v1/webhooks/sources', { token: key.key, body: { name: 'x' } }), 403);
  });

  it('400 with a field path and message per error, and nothing written or published', async () => {
    const agentId = unique('agent-invalid');
    const r = await postTask(key.key, {
      agent: { id: agentId, role: 'Dev' },
      action: { tool: 'WriteFile' },
      idempotencyKey: 'typo',
    });
    expectProblem(r, 400);
    const paths = (r.body as Problem).errors!.map((e) => e.path).sort();
    expect(paths).toEqual(['action.tool', 'agent.role', 'idempotencyKey']);
    expect((r.body as Problem).errors!.find((e) => e.path === 'action.tool')!.message).toMatch(/namespace\.verb/);
    expect(await ds.query('SELECT 1 FROM ingest.submissions WHERE agent_id = $1', [agentId])).toEqual([]);
    expect(await events(t.subjects.rejectedAll)).toEqual([]);
  });

  it('400 for a body that is not JSON, not UTF-8, or not an object; 415 for another media type', async () => {
    const notJson = await call(urlA, 'POST', '/v1/tasks', { token: key.key, raw: '{"agent":' });
    expectProblem(notJson, 400);
    expect(notJson.body.errors[0]).toMatchObject({ path: '', message: expect.stringMatching(/not valid JSON/) });
    const notUtf8 = await call(urlA, 'POST', '/v1/tasks', { token: key.key, raw: new Uint8Array([0x7b, 0xff, 0x7d]) });
    expectProblem(notUtf8, 400);
    expect(notUtf8.body.errors[0].message).toMatch(/UTF-8/);
    expectProblem(await call(urlA, 'POST', '/v1/tasks', { token: key.key, raw: '[]' }), 400);
    expectProblem(await call(urlA, 'POST', '/v1/tasks', { token: key.key, raw: '' }), 400);
    expectProblem(
      await call(urlA, 'POST', '/v1/tasks', {
        token: key.key,
        raw: 'agent=x',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      }),
      415,
    );
  });

  it('413 over 256 KiB: refused from Content-Length before reading, and mid-stream for a chunked body', async () => {
    const big = JSON.stringify(submission({ intent: 'x'.repeat(256 * 1024) }));
    const r = await call(urlA, 'POST', '/v1/tasks', { token: key.key, raw: big });
    expectProblem(r, 413);
    // chunked (no Content-Length): 64 MiB offered, the server stops reading shortly after 256 KiB
    const total = 64 * 1024 * 1024;
    let pulled = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (pulled >= total) return c.close();
        pulled += 64 * 1024;
        c.enqueue(new Uint8Array(64 * 1024).fill(0x20));
      },
    });
    const res = await fetch(`${urlA}/v1/tasks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key.key}`, 'content-type': 'application/json' },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(((await res.json()) as Problem).errors![0]!.message).toMatch(/limit of 262144 bytes/);
    expect(pulled).toBeLessThan(total / 4);
    // exactly at the limit is not too large (it is read, then judged by the schema)
    const atLimit = await call(urlA, 'POST', '/v1/tasks', { token: key.key, raw: ' '.repeat(256 * 1024) });
    expectProblem(atLimit, 400);
  });

  it('the same agent + idempotency_key is one run: 202 then 200 duplicate with the first run id', async () => {
    const body = submission({ idempotency_key: unique('idem') });
    const first = await postTask(key.key, body);
    expect(first.status).toBe(202);
    const again = await postTask(key.key, { ...body, intent: 'different text, same key' });
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ run_id: first.body.run_id, duplicate: true });
    // another agent with the same key is another run
    const other = await postTask(key.key, { ...body, agent: { id: 'agent-other', role: 'dev' } });
    expect(other.status).toBe(202);
    expect(other.body.run_id).not.toBe(first.body.run_id);
    expect(await receivedFor(first.body.run_id)).toHaveLength(1);
  });

  it('concurrent requests with one idempotency key make exactly one run', async () => {
    const body = submission({ idempotency_key: unique('race') });
    const answers = await Promise.all(Array.from({ length: 12 }, () => postTask(key.key, body)));
    expect(answers.filter((r) => r.status === 202)).toHaveLength(1);
    expect(answers.filter((r) => r.status === 200)).toHaveLength(11);
    const ids = new Set(answers.map((r) => r.body.run_id));
    expect(ids.size).toBe(1);
    expect(await receivedFor([...ids][0])).toHaveLength(1);
  });

  it('409 with the run_id path when a client run_id belongs to another submission', async () => {
    const runId = '7e0c2c9a-3b7d-4f7e-8a1b-2c3d4e5f6a7b';
    expect((await postTask(key.key, submission({ run_id: runId }))).status).toBe(202);
    const clash = await postTask(key.key, submission({ run_id: runId, agent: { id: 'agent-clash', role: 'dev' } }));
    expectProblem(clash, 409);
    expect(clash.body.errors).toEqual([{ path: 'run_id', message: 'run_id already in use' }]);
  });

  it('429 with Retry-After once a key has spent its burst (token bucket in Redis)', async () => {
    const k = await createKey('tiny-bucket', urlB);
    const statuses: number[] = [];
    let limited: Awaited<ReturnType<typeof call>> | undefined;
    for (let i = 0; i < 4; i++) {
      const r = await postTask(k.key, submission({ idempotency_key: unique('rate') }), urlB);
      statuses.push(r.status);
      if (r.status === 429) limited = r;
    }
    expect(statuses.slice(0, 2)).toEqual([202, 202]);
    expect(statuses.slice(2)).toContain(429);
    expectProblem(limited!, 429);
    expect(Number(limited!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // another key has its own bucket
    const other = await createKey('tiny-bucket-2', urlB);
    expect((await postTask(other.key, submission(), urlB)).status).toBe(202);
    // the bucket refills: after Retry-After the key is served again
    await new Promise((r) => setTimeout(r, Number(limited!.headers.get('retry-after')) * 1000 + 50));
    expect((await postTask(k.key, submission(), urlB)).status).toBe(202);
  });
});

describe('API keys', () => {
  it('are created by admins only, shown once, stored as a hash, and listed with last use', async () => {
    expectProblem(await call(urlA, 'POST', '/v1/keys', { body: { name: 'n', owner: 'o' } }), 401);
    const bad = await call(urlA, 'POST', '/v1/keys', { token: ADMIN, body: { name: '', expires_at: 'soon' } });
    expectProblem(bad, 400);
    expect(bad.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['expires_at', 'name', 'owner']);
    const k = await createKey('listed');
    expect(k.key).toMatch(/^wk_[A-Za-z0-9_-]{43}$/);
    const rows: { key_hash: string }[] = await ds.query('SELECT key_hash FROM ingest.api_keys WHERE key_id = $1', [
      k.id,
    ]);
    expect(rows[0]!.key_hash).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(JSON.stringify(await ds.query('SELECT * FROM ingest.api_keys'))).not.toContain(k.key);
    expect((await postTask(k.key, submission())).status).toBe(202);
    const list = await waitFor(async () => {
      const r = await call(urlA, 'GET', '/v1/keys', { token: ADMIN });
      const mine = (r.body.keys as { id: string; last_used_at: string | null }[]).find((x) => x.id === k.id);
      return mine?.last_used_at ? mine : undefined;
    }, 'last_used_at');
    expect(list).toMatchObject({ name: 'listed', owner: 'team-x', status: 'active', revoked_at: null });
    expect(JSON.stringify(list)).not.toContain(k.key);
  });

  it('a key created on one replica works on the other; its revoke is refused on the other within 5 s', async () => {
    const k = await createKey('revoked-across');
    await waitFor(async () => (await postTask(k.key, submission(), urlB)).status === 202, 'key to work on B', 5000);
    const revoked = await call(urlA, 'POST', `/v1/keys/${k.id}/revoke`, { token: ADMIN, body: {} });
    expect(revoked.status).toBe(200);
    const startedAt = Date.now();
    await waitFor(async () => (await postTask(k.key, submission(), urlB)).status === 401, 'revoke on B', 5000);
    expect(Date.now() - startedAt).toBeLessThan(5000);
    expectProblem(await postTask(k.key, submission()), 401);
    expectProblem(await call(urlA, 'POST', `/v1/keys/${k.id}/revoke`, { token: ADMIN }), 409);
    expectProblem(await call(urlA, 'POST', `/v1/keys/${randomUUID()}/revoke`, { token: ADMIN }), 404);
    expectProblem(await call(urlA, 'POST', '/v1/keys/not-a-uuid/revoke', { token: ADMIN }), 404);
    const dirEvents = await events(t.subjects.directoryAll);
    const mine = dirEvents.filter((e) => (e.data as { key_id?: string }).key_id === k.id).map((e) => e.type);
    expect(mine).toEqual(['api_key_created', 'api_key_revoked']);
    expect(JSON.stringify(dirEvents)).not.toContain(k.key);
  });

  it('rotation: the new key works at once, the old one until the grace period ends, then nowhere', async () => {
    const old = await createKey('rotating');
    const r = await call(urlA, 'POST', `/v1/keys/${old.id}/rotate`, { token: ADMIN, body: { grace_seconds: 2 } });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ id: expect.any(String), key: expect.stringMatching(/^wk_/), replaces: old.id });
    expect((await postTask(r.body.key, submission())).status).toBe(202);
    expect((await postTask(old.key, submission())).status).toBe(202);
    const listed = await call(urlA, 'GET', '/v1/keys', { token: ADMIN });
    expect(listed.body.keys.find((x: { id: string }) => x.id === old.id)).toMatchObject({
      status: 'rotating',
      replaced_by: r.body.id,
    });
    await waitFor(async () => (await postTask(old.key, submission(), urlA)).status === 401, 'old key to lapse', 6000);
    await waitFor(
      async () => (await postTask(old.key, submission(), urlB)).status === 401,
      'old key to lapse on B',
      6000,
    );
    expect((await postTask(r.body.key, submission())).status).toBe(202);
  });

  it('an expired key is refused', async () => {
    const expires = new Date(Date.now() + 1500).toISOString();
    const r = await call(urlA, 'POST', '/v1/keys', {
      token: ADMIN,
      body: { name: 'short', owner: 'o', expires_at: expires },
    });
    expect(r.status).toBe(201);
    expect((await postTask(r.body.key, submission())).status).toBe(202);
    await waitFor(async () => (await postTask(r.body.key, submission())).status === 401, 'expiry', 5000);
  });
});

describe('webhooks', () => {
  let secret: string;
  const source = `src${randomBytes(3).toString('hex')}`;
  const now = () => Math.floor(Date.now() / 1000);

  function deliver(
    body: string,
    opts: { id?: string; ts?: number; secret?: string; signature?: string; src?: string; base?: string } = {},
  ) {
    const id = opts.id ?? `msg_${randomBytes(8).toString('hex')}`;
    const ts = opts.ts ?? now();
    const signature = opts.signature ?? signDelivery(opts.secret ?? secret, id, ts, body);
    return call(opts.base ?? urlA, 'POST', `/v1/webhooks/${opts.src ?? source}`, {
      raw: body,
      headers: { 'webhook-id': id, 'webhook-timestamp': String(ts), 'webhook-signature': signature },
    });
  }

  beforeAll(async () => {
    const r = await call(urlA, 'POST', '/v1/webhooks/sources', { token: ADMIN, body: { name: source } });
    expect(r.status).toBe(201);
    expect(r.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    secret = r.body.secret;
  });

  it('sources: admin only, names validated, duplicates refused, secrets encrypted at rest', async () => {
    expectProblem(await call(urlA, 'POST', '/v1/webhooks/sources', { body: { name: 'x' } }), 401);
    const bad = await call(urlA, 'POST', '/v1/webhooks/sources', { token: ADMIN, body: { name: 'Bad Name' } });
    expectProblem(bad, 400);
    expect(bad.body.errors[0].path).toBe('name');
    expectProblem(await call(urlA, 'POST', '/v1/webhooks/sources', { token: ADMIN, body: { name: 'sources' } }), 400);
    expectProblem(await call(urlA, 'POST', '/v1/webhooks/sources', { token: ADMIN, body: { name: source } }), 409);
    const stored = JSON.stringify(await ds.query('SELECT * FROM ingest.webhook_secrets'));
    expect(stored).not.toContain(secret.slice(6));
    const list = await call(urlA, 'GET', '/v1/webhooks/sources', { token: ADMIN });
    expect(list.body.sources.find((s: { name: string }) => s.name === source).secrets).toHaveLength(1);
  });

  it('a valid delivery is a run (202); its replay answers 200 with the first run id and makes no second run', async () => {
    const body = JSON.stringify(submission({ agent: { id: 'agent-hook', role: 'dev' } }));
    const id = `msg_${randomBytes(8).toString('hex')}`;
    const ts = now();
    const first = await deliver(body, { id, ts });
    expect(first.status).toBe(202);
    const runId = first.body.run_id as string;
    const [env] = await receivedFor(runId);
    expect(env!.data).toMatchObject({
      channel: 'webhook',
      source_id: `${source}:${id}`,
      submitted_by: { kind: 'webhook', id: source },
    });
    const replay = await deliver(body, { id, ts });
    expect(replay.status).toBe(200);
    expect(replay.body).toEqual({ run_id: runId, duplicate: true });
    // a sender's retry: same id, new timestamp and signature
    const retry = await deliver(body, { id, ts: ts + 30 });
    expect(retry.body).toEqual({ run_id: runId, duplicate: true });
    // with Redis forgetting it, Postgres still knows
    await redis.del(`${t.prefix}:ingest:webhook:${source}:${id}`);
    const afterFlush = await deliver(body, { id, ts });
    expect(afterFlush.status).toBe(200);
    expect(afterFlush.body.run_id).toBe(runId);
    expect(await receivedFor(runId)).toHaveLength(1);
    expect(
      await ds.query('SELECT run_id FROM ingest.webhook_deliveries WHERE source = $1 AND webhook_id = $2', [
        source,
        id,
      ]),
    ).toEqual([{ run_id: runId }]);
    expect(await redis.get(`${t.prefix}:ingest:webhook:${source}:${id}`)).toBe(runId);
    expect(await redis.pttl(`${t.prefix}:ingest:webhook:${source}:${id}`)).toBeGreaterThan(5 * 60 * 1000);
  });

  it('concurrent replays of one delivery make one run', async () => {
    const body = JSON.stringify(submission({ agent: { id: 'agent-hook-race', role: 'dev' } }));
    const id = `msg_${randomBytes(8).toString('hex')}`;
    const ts = now();
    const answers = await Promise.all(Array.from({ length: 8 }, () => deliver(body, { id, ts })));
    expect(answers.filter((r) => r.status === 202)).toHaveLength(1);
    expect(new Set(answers.map((r) => r.body.run_id)).size).toBe(1);
  });

  it('401 for forged, stale, future, tampered, unsigned and unknown-source deliveries; nothing is taken in', async () => {
    const agentId = unique('agent-forged');
    const body = JSON.stringify(submission({ agent: { id: agentId, role: 'dev' } }));
    const other = await call(urlA, 'POST', '/v1/webhooks/sources', { token: ADMIN, body: { name: `${source}-b` } });
    const cases = [
      await deliver(body, { secret: other.body.secret }), // another source's secret
      await deliver(body, { secret: 'whsec_' + randomBytes(32).toString('base64') }), // forged
      await deliver(body, { ts: now() - 6 * 60 }), // stale
      await deliver(body, { ts: now() + 6 * 60 }), // future
      await deliver(body, { signature: signDelivery(secret, 'msg_x', now(), body.replace('agent', 'agenT')) }),
      await deliver(body, { signature: 'v2,whatever' }),
      await deliver(body, { src: 'no-such-source' }),
    ];
    // tampered: signed over one body, another sent (one byte changed)
    const id = 'msg_tampered';
    const ts = now();
    const sig = signDelivery(secret, id, ts, body);
    cases.push(await deliver(body.replace('"dev"', '"deV"'), { id, ts, signature: sig }));
    cases.push(await call(urlA, 'POST', `/v1/webhooks/${source}`, { raw: body }));
    for (const r of cases) expectProblem(r, 401);
    expect(cases[2]!.body.detail).toMatch(/old/);
    expect(cases[3]!.body.detail).toMatch(/ahead/);
    expect(await ds.query('SELECT 1 FROM ingest.submissions WHERE agent_id = $1', [agentId])).toEqual([]);
    // the other source's own signature is fine on its own route
    expect((await deliver(body, { secret: other.body.secret, src: `${source}-b` })).status).toBe(202);
  });

  it('a valid signature over an invalid submission is 400 with paths', async () => {
    const r = await deliver(JSON.stringify({ agent: { id: 'x' } }));
    expectProblem(r, 400);
    expect(r.body.errors.map((e: { path: string }) => e.path)).toEqual(
      expect.arrayContaining(['agent.role', 'action']),
    );
  });

  it('rotation: old and new secrets both verify during the grace period (on every replica), then only the new', async () => {
    const name = `${source}-rot`;
    const created = await call(urlA, 'POST', '/v1/webhooks/sources', { token: ADMIN, body: { name } });
    const oldSecret = created.body.secret as string;
    const body = () => JSON.stringify(submission({ idempotency_key: unique('rot') }));
    // B caches the old secret set
    expect((await deliver(body(), { secret: oldSecret, src: name, base: urlB })).status).toBe(202);
    const rotated = await call(urlA, 'POST', `/v1/webhooks/sources/${name}/rotate`, {
      token: ADMIN,
      body: { grace_seconds: 3 },
    });
    expect(rotated.status).toBe(200);
    const newSecret = rotated.body.secret as string;
    expect(newSecret).not.toBe(oldSecret);
    expect((await deliver(body(), { secret: newSecret, src: name })).status).toBe(202);
    expect((await deliver(body(), { secret: newSecret, src: name, base: urlB })).status).toBe(202);
    expect((await deliver(body(), { secret: oldSecret, src: name })).status).toBe(202);
    // a sender signing with both during its own switch-over
    const id = 'msg_both';
    const ts = now();
    const b1 = body();
    const both = `${signDelivery(oldSecret, id, ts, b1)} ${signDelivery(newSecret, id, ts, b1)}`;
    expect((await deliver(b1, { id, ts, signature: both, src: name })).status).toBe(202);
    await waitFor(
      async () => (await deliver(body(), { secret: oldSecret, src: name })).status === 401,
      'grace to end',
      8000,
    );
    await waitFor(
      async () => (await deliver(body(), { secret: oldSecret, src: name, base: urlB })).status === 401,
      'grace to end on B',
      8000,
    );
    expect((await deliver(body(), { secret: newSecret, src: name })).status).toBe(202);
    expectProblem(await call(urlA, 'POST', '/v1/webhooks/sources/nope/rotate', { token: ADMIN }), 404);
  });

  it('a deleted source refuses deliveries', async () => {
    const name = `${source}-del`;
    const created = await call(urlA, 'POST', '/v1/webhooks/sources', { token: ADMIN, body: { name } });
    expect((await deliver(JSON.stringify(submission()), { secret: created.body.secret, src: name })).status).toBe(202);
    expect((await call(urlA, 'DELETE', `/v1/webhooks/sources/${name}`, { token: ADMIN })).status).toBe(204);
    expectProblem(await deliver(JSON.stringify(submission()), { secret: created.body.secret, src: name }), 401);
    expectProblem(await call(urlA, 'DELETE', `/v1/webhooks/sources/${name}`, { token: ADMIN }), 404);
  });
});

describe('GET /openapi.json', () => {
  it('lists every ingest route', async () => {
    const r = await call(urlA, 'GET', '/openapi.json');
    expect(r.status).toBe(200);
    expect(Object.keys(r.body.paths)).toEqual(
      expect.arrayContaining([
        '/v1/tasks',
        '/v1/webhooks/{source}',
        '/v1/webhooks/sources',
        '/v1/webhooks/sources/{name}/rotate',
        '/v1/webhooks/sources/{name}',
        '/v1/keys',
        '/v1/keys/{id}/revoke',
        '/v1/keys/{id}/rotate',
      ]),
    );
    expect(Object.keys(r.body.paths['/v1/tasks'].post.responses)).toEqual(
      expect.arrayContaining(['202', '200', '400', '401', '403', '413', '429']),
    );
  });
});
