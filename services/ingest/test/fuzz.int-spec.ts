import 'reflect-metadata';
import { randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import fc from 'fast-check';
import { DATA_SOURCE, startService } from '@warden/runtime';
import { createTestEnv, readAll, type TestEnv } from '@warden/testing';
import { AppModule } from '../src/app.module';
import { loadConfig } from '../src/config';

/**
 * Property: whatever bytes and headers arrive at POST /v1/tasks, the answer is a 2xx with a run id or
 * a 4xx problem+json, the process stays up, and the store holds exactly the runs that were answered
 * 202 (each with one task_received): no half state.
 */
const ADMIN = `admin-${randomBytes(16).toString('hex')}`;
let t: TestEnv;
let app: INestApplication;
let url: string;
let ds: DataSource;
let key: string;

const accepted = new Map<string, number>(); // run_id → 202 count
const duplicates = new Set<string>();
const statuses = new Map<number, number>();

beforeAll(async () => {
  t = await createTestEnv();
  const config = loadConfig({
    ...process.env,
    ...t.env,
    INGEST_PORT: '0',
    WARDEN_BOOTSTRAP_ADMIN_TOKEN: ADMIN,
    WARDEN_SECRETS_KEY: randomBytes(32).toString('base64'),
    INGEST_RATE_LIMIT_PER_SEC: '100000',
    INGEST_RATE_LIMIT_BURST: '100000',
  });
  app = await startService(AppModule.forRoot(config), { service: 'ingest', port: 0, host: '127.0.0.1' });
  url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  ds = app.get<DataSource>(DATA_SOURCE);
  const r = await fetch(`${url}/v1/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'fuzz', owner: 'fuzz' }),
  });
  key = ((await r.json()) as { key: string }).key;
});

afterAll(async () => {
  await app?.close();
  await t?.cleanup();
});

const RUN_IDS = [randomUUID(), randomUUID()];
const FIELDS = [
  'agent',
  'agent.id',
  'agent.role',
  'action',
  'action.tool',
  'action.args',
  'run_id',
  'idempotency_key',
  'session_id',
  'intent',
  'usage',
  'usage.tokens',
  'usage.cost_usd',
  'metadata',
  'unknown_field',
];
const weird = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('', '\u0000', 'a\u0000b', '\ud800', 'x'.repeat(5000), -1, 1e308, 0.5, null, [], {}, true),
);
const submission = fc.record(
  {
    agent: fc.record({
      id: fc.oneof(fc.constantFrom('agent-1', 'agent-2'), fc.string({ minLength: 1, maxLength: 12 })),
      role: fc.constantFrom('dev', 'research', 'outreach'),
    }),
    action: fc.record({
      tool: fc.constantFrom('fs.read_file', 'fs.write_file', 'git.push', 'secrets.read'),
      args: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
    }),
    idempotency_key: fc.constantFrom('k1', 'k2', 'k3'),
    run_id: fc.constantFrom(...RUN_IDS),
    session_id: fc.string({ minLength: 1, maxLength: 10 }),
    intent: fc.string({ maxLength: 50 }),
    usage: fc.record({ tokens: fc.nat(100_000) }, { requiredKeys: [] }),
    metadata: fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
  },
  { requiredKeys: ['agent', 'action'] },
);

function setPath(obj: Record<string, unknown>, path: string, value: unknown, remove: boolean): Record<string, unknown> {
  const copy = structuredClone(obj);
  const parts = path.split('.');
  let cur: Record<string, unknown> = copy;
  for (const p of parts.slice(0, -1)) {
    if (typeof cur[p] !== 'object' || cur[p] === null) cur[p] = {};
    cur = cur[p] as Record<string, unknown>;
  }
  const last = parts[parts.length - 1]!;
  if (remove) delete cur[last];
  else cur[last] = value;
  return copy;
}

const text = (s: string) => new TextEncoder().encode(s);
const body: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 3, arbitrary: submission.map((s) => text(JSON.stringify(s))) },
  {
    weight: 4,
    arbitrary: fc
      .tuple(submission, fc.constantFrom(...FIELDS), weird, fc.boolean())
      .map(([s, path, value, remove]) => text(JSON.stringify(setPath(s, path, value, remove)))),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        submission,
        fc.nat(),
        fc.string({ unit: 'binary', maxLength: 3 }),
        fc.constantFrom('cut', 'flip', 'insert'),
      )
      .map(([s, at, ins, how]) => {
        const j = JSON.stringify(s);
        const i = at % (j.length + 1);
        if (how === 'cut') return text(j.slice(0, i));
        if (how === 'flip') return text(j.slice(0, i) + ins + j.slice(i + 1));
        return text(j.slice(0, i) + ins + j.slice(i));
      }),
  },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => text(JSON.stringify(v) ?? 'null')) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }) },
);
const headers = fc.record(
  {
    'content-type': fc.constantFrom(
      'application/json',
      'application/json; charset=utf-8',
      'text/plain',
      'application/x-www-form-urlencoded',
      'application/cloudevents+json',
      '',
    ),
    authorization: fc.oneof(
      { weight: 8, arbitrary: fc.constant('KEY') },
      { weight: 1, arbitrary: fc.string({ maxLength: 30 }).map((s) => `Bearer ${s.replace(/[\r\n]/g, '')}`) },
      { weight: 1, arbitrary: fc.constantFrom('Bearer', 'Basic abc', `Bearer ${ADMIN}`, 'Bearer KEY extra') },
    ),
    traceparent: fc.oneof(
      fc.constant('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'),
      fc.string({ maxLength: 60 }),
    ),
    'content-encoding': fc.constantFrom('gzip', 'br', 'identity'),
  },
  { requiredKeys: ['content-type', 'authorization'] },
);

/** Keeps only header values fetch can send (printable ASCII). */
function sendable(h: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    const value = v === 'KEY' ? `Bearer ${key}` : v.replace('KEY', key);
    if (/^[\x20-\x7e]*$/.test(value) && value.trim() === value) out[k] = value;
  }
  return out;
}

async function send(b: Uint8Array, h: Record<string, string>): Promise<void> {
  const res = await fetch(`${url}/v1/tasks`, { method: 'POST', headers: sendable(h), body: b });
  const raw = await res.text();
  statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
  expect(res.status === 200 || res.status === 202 || (res.status >= 400 && res.status < 500)).toBe(true);
  const parsed = JSON.parse(raw) as { run_id?: string; status?: number; title?: string; errors?: unknown[] };
  if (res.status >= 400) {
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(parsed.status).toBe(res.status);
    expect(typeof parsed.title).toBe('string');
    if (res.status === 400) expect(Array.isArray(parsed.errors) && parsed.errors.length > 0).toBe(true);
  } else {
    expect(parsed.run_id).toMatch(/^[0-9a-f-]{36}$/);
    if (res.status === 202) accepted.set(parsed.run_id!, (accepted.get(parsed.run_id!) ?? 0) + 1);
    else duplicates.add(parsed.run_id!);
  }
}

describe('POST /v1/tasks under fuzzing', () => {
  it('answers thousands of generated and mutated bodies with 2xx or a 4xx problem, never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(body, async (b) => send(b, { 'content-type': 'application/json', authorization: 'KEY' })),
      { numRuns: 2500 },
    );
    await fc.assert(
      fc.asyncProperty(body, headers, async (b, h) => send(b, h)),
      { numRuns: 1000 },
    );
    // the generators did reach every kind of answer
    // (fewer since the input gate refuses unsafe numbers, which fc.jsonValue often draws)
    expect(statuses.get(202)).toBeGreaterThan(25);
    expect(statuses.get(200)).toBeGreaterThan(10);
    expect(statuses.get(400)).toBeGreaterThan(200);
    expect(statuses.get(401)).toBeGreaterThan(10);
    expect(statuses.get(415)).toBeGreaterThan(10);
  });

  it('is still alive, and left exactly one row and one task_received per 202, nothing for the rest', async () => {
    expect((await fetch(`${url}/health/live`)).status).toBe(200);
    for (const n of accepted.values()) expect(n).toBe(1);
    const rows: { run_id: string }[] = await ds.query('SELECT run_id FROM ingest.submissions');
    expect(new Set(rows.map((r) => r.run_id))).toEqual(new Set(accepted.keys()));
    for (const d of duplicates) expect(accepted.has(d)).toBe(true);
    const received = await readAll(t.bus, t.subjects.streams.events, t.subjects.eventsOfType('task_received'));
    const runIds = received.map((m) => (m.json() as { run_id: string }).run_id);
    expect(runIds).toHaveLength(accepted.size);
    expect(new Set(runIds)).toEqual(new Set(accepted.keys()));
  });
});
