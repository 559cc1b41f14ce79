import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { parse, stringify } from 'yaml';
import { makeEnvelope } from '@warden/bus';
import type { Decision, Envelope } from '@warden/contracts';
import { newId, newTraceId } from '@warden/kernel';
import { createRedis, type Redis } from '@warden/persistence';
import { startService } from '@warden/runtime';
import { createTestEnv, runEvents, testPublisher, waitFor, type TestEnv } from '@warden/testing';
import { AppModule } from '../services/policy/src/app.module';
import { loadConfig } from '../services/policy/src/config';
import { policyBucket } from '../services/policy/src/bundle/bundle.registry';

const REDIS_PORT = 26400 + Math.floor(Math.random() * 500);

/**
 * A run snapshot as the policy reads it: Lua's empty table (`{}`) and an empty array alike, and no
 * repeat count the same as 0.
 */
function normalise(text: string | null): unknown {
  if (text === null) return null;
  const snap = JSON.parse(text) as { s?: false | { h?: unknown; r?: number } };
  if (snap.s && snap.s.h && !Array.isArray(snap.s.h) && Object.keys(snap.s.h).length === 0) snap.s.h = [];
  if (snap.s) snap.s.r ??= 0;
  return snap;
}

/** A private redis-server with no persistence: a kill -9 and restart loses everything. */
async function startRedis(): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(REDIS_PORT), '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  const probe = createRedis(`redis://127.0.0.1:${REDIS_PORT}`, 'probe');
  await waitFor(async () => (await probe.ping().catch(() => undefined)) === 'PONG', 'the private redis', 10_000);
  probe.disconnect();
  return child;
}

/**
 * A session spends its budget; the policy's Redis is killed -9 and restarted empty; the session's
 * next proposal is still over budget and denied (the counters are rebuilt from policy.usage), while
 * a fresh session is still allowed.
 */
describe('policy budgets survive the loss of Redis (private redis-server, kill -9, restarted empty)', () => {
  let t: TestEnv;
  let redisProc: ChildProcess;
  let redis: Redis;
  let app: INestApplication;
  let dir: string;

  beforeAll(async () => {
    redisProc = await startRedis();
    t = await createTestEnv();
    const raw = parse(readFileSync(resolve(__dirname, '../deploy/policies/default.yaml'), 'utf8')) as Record<
      string,
      unknown
    >;
    raw.version = 'redis-loss.1';
    raw.budgets = {
      session: { max_calls: 3, max_tokens: 100_000, window_seconds: 3600, escalate_at: null, on_exceed: 'deny' },
    };
    dir = mkdtempSync(join(tmpdir(), 'warden-redis-loss-'));
    writeFileSync(join(dir, 'bundle.yaml'), stringify(raw));
    const config = loadConfig({
      ...process.env,
      ...t.env,
      REDIS_URL: `redis://127.0.0.1:${REDIS_PORT}`,
      POLICY_PORT: '0',
      WARDEN_POLICY_FILE: join(dir, 'bundle.yaml'),
      WARDEN_WORKSPACE: join(dir, 'workspace'),
    });
    app = await startService(AppModule.forRoot(config), { service: 'policy', port: 0 });
    redis = createRedis(`redis://127.0.0.1:${REDIS_PORT}`, 'redis-loss-test');
  }, 60_000);
  afterAll(async () => {
    await app?.close();
    redis?.disconnect();
    redisProc?.kill('SIGKILL');
    await t?.bus.jsm.streams.delete(`KV_${policyBucket(t.subjects)}`).catch(() => undefined);
    await t?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  async function propose(session: string): Promise<Envelope<'decision_made'>> {
    const runId = newId();
    await testPublisher(t).publishEvent(
      makeEnvelope({
        type: 'task_received',
        runId,
        producer: 'ingest',
        traceId: newTraceId(),
        correlationId: runId,
        causationId: null,
        data: {
          submission: {
            run_id: runId,
            session_id: session,
            agent: { id: 'agent-redis-loss', role: 'dev' },
            action: { tool: 'fs.read_file', args: { path: 'notes/a.md' } },
          },
          channel: 'bus',
        },
      }),
    );
    return waitFor(
      async () =>
        (await runEvents(t.bus, t.subjects, runId)).find((e) => e.type === 'decision_made') as
          Envelope<'decision_made'> | undefined,
      `the decision of ${runId}`,
      30_000,
    );
  }

  it('denies the over-budget proposal after a Redis kill -9 and an empty restart', async () => {
    const session = `sess-${newId()}`;
    const runs: string[] = [];
    for (let i = 0; i < 3; i++) {
      const d = await propose(session);
      expect(d.data.outcome).toBe('allow');
      runs.push(d.run_id!);
    }
    expect(await redis.hget(`${t.prefix}:policy:session:${session}`, 'c')).toBe('3');
    // what each run was judged on, as the Lua script stored it (a redelivery answers with it)
    const runKey = (id: string) => `${t.prefix}:policy:run:${id}`;
    const snapshotsBefore = await Promise.all(runs.map(async (id) => normalise(await redis.get(runKey(id)))));

    // Redis dies with the counters and comes back empty
    const exited = new Promise((r) => redisProc.once('exit', r));
    redisProc.kill('SIGKILL');
    await exited;
    redisProc = await startRedis();
    expect(await redis.dbsize()).toBe(0);

    const over: Decision = (await propose(session)).data;
    expect(over.outcome).toBe('deny');
    expect(over.reasons.join(' ')).toMatch(/budget/);
    // rebuilt, then counted: the session has 4 calls again, as if Redis had never gone
    expect(await redis.hget(`${t.prefix}:policy:session:${session}`, 'c')).toBe('4');
    // loop detection's count of the same call is rebuilt too: 3 before, this proposal makes 4
    const loop = await redis.hgetall(`${t.prefix}:policy:session:${session}:fail`);
    expect(Object.entries(loop).flatMap(([k, v]) => (k.startsWith('r:') ? [v] : []))).toEqual(['4']);
    expect(await redis.get(`${t.prefix}:policy:epoch`)).toBeTruthy();
    // the runs judged before the loss got their snapshots back, as the script had written them
    expect(await Promise.all(runs.map(async (id) => normalise(await redis.get(runKey(id)))))).toEqual(snapshotsBefore);

    // a fresh session is not affected
    expect((await propose(`sess-${newId()}`)).data.outcome).toBe('allow');
  }, 120_000);
});
