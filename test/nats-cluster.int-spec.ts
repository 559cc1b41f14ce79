import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Client } from 'pg';
import { newId } from '@warden/kernel';
import { createTestEnv, readAll, waitFor, type TestEnv } from '@warden/testing';
import { NATS_SERVER, NatsCluster } from './support/nats-cluster';
import { System } from './support/system';

const ROOT = join(__dirname, '..');
const NATS_DIR = join(ROOT, 'deploy', 'nats');
const TERMINAL_EVENTS = [
  'run_succeeded',
  'run_failed',
  'run_denied',
  'run_cancelled',
  'approval_rejected',
  'approval_expired',
];
const RATE = Number(process.env.CLUSTER_TEST_RATE ?? 50); // proposals per second
const SECONDS = Number(process.env.CLUSTER_TEST_SECONDS ?? 20);

/** The environment node.conf and nats-prod.conf read, with placeholder values, for `nats-server -t`. */
function placeholderEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    NATS_SERVER_NAME: 'warden-nats-1',
    NATS_PORT: '4222',
    NATS_HTTP_PORT: '8222',
    NATS_CLUSTER_PORT: '6222',
    NATS_STORE_DIR: '/data',
    NATS_ROUTE_1: 'nats://nats-1:6222',
    NATS_ROUTE_2: 'nats://nats-2:6222',
    NATS_ROUTE_3: 'nats://nats-3:6222',
  };
  const prod = readFileSync(join(NATS_DIR, 'nats-prod.conf'), 'utf8');
  for (const m of prod.matchAll(/\$(NATS_[A-Z0-9_]+_PASSWORD)/g)) env[m[1]!] = `pw${m[1]!.toLowerCase()}`;
  return env;
}

function natsCheck(file: string): string {
  return execFileSync(NATS_SERVER, ['-t', '-c', file], { env: placeholderEnv(), encoding: 'utf8', stdio: 'pipe' });
}

/** The `jetstream { … }` block of a config file, comments and blank lines removed. */
function jetstreamBlock(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const m = /^jetstream\s*\{([^}]*)\}/m.exec(text);
  if (!m) throw new Error(`${file} has no jetstream block`);
  return m[1]!
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean);
}

describe('the NATS configs in deploy/nats are valid on NATS 2.9 and name sync_interval only where >= 2.10 runs', () => {
  // files for NATS >= 2.10 (the nats:2.12 image) and the 2.9-valid file each of them builds on
  const newer = ['nats.conf', 'nats-prod-2.10.conf', 'cluster/nats.conf', 'cluster/nats-users.conf'];
  const older = ['nats-prod.conf', 'cluster/node.conf'];

  it.each(older)('%s parses on this machine (nats-server -t) and names no sync_interval', (f) => {
    expect(() => natsCheck(join(NATS_DIR, f))).not.toThrow();
    expect(readFileSync(join(NATS_DIR, f), 'utf8')).not.toMatch(/^\s*sync_interval/m);
  });

  it.each(newer)('%s sets sync_interval: always and parses once that line is taken out for 2.9', (f) => {
    expect(jetstreamBlock(join(NATS_DIR, f))).toContain('sync_interval: always');
    // the same tree in a temp dir, minus sync_interval lines, so includes resolve the same way
    const tmp = mkdtempSync(join(tmpdir(), 'warden-nats-conf-'));
    for (const g of [...newer, ...older]) {
      mkdirSync(dirname(join(tmp, g)), { recursive: true });
      const text = readFileSync(join(NATS_DIR, g), 'utf8').replace(/^\s*sync_interval:.*$/gm, '');
      writeFileSync(join(tmp, g), text);
    }
    expect(() => natsCheck(join(tmp, f))).not.toThrow();
  });

  it('the >= 2.10 files repeat the jetstream block they replace, plus sync_interval', () => {
    const strip = (lines: string[]) => lines.filter((l) => !l.startsWith('sync_interval'));
    expect(strip(jetstreamBlock(join(NATS_DIR, 'nats-prod-2.10.conf')))).toEqual(
      jetstreamBlock(join(NATS_DIR, 'nats-prod.conf')),
    );
    for (const f of ['cluster/nats.conf', 'cluster/nats-users.conf'])
      expect(strip(jetstreamBlock(join(NATS_DIR, f)))).toEqual(jetstreamBlock(join(NATS_DIR, 'cluster/node.conf')));
  });
});

describe('Warden on a 3-node NATS cluster with R3 streams: a node killed -9 under load loses nothing and runs nothing twice', () => {
  const cluster = new NatsCluster();
  let t: TestEnv;
  let sys: System;
  let workspace: string;

  let stage = 'not started';
  beforeAll(async () => {
    // name the step that hangs if this hook times out
    const timer = setTimeout(() => console.error(`nats-cluster: still at "${stage}" after 80 s`), 80_000);
    stage = 'starting three nats-server processes';
    await cluster.start(3);
    stage = 'creating the streams at R3';
    t = await createTestEnv({ natsUrl: cluster.url, streamReplicas: 3 });
    stage = 'starting the five services';
    workspace = mkdtempSync(join(tmpdir(), 'warden-cluster-'));
    writeFileSync(join(workspace, 'in.txt'), 'cluster input\n');
    // Tools run in the worker process: this test is about the bus, and on a loaded 2-core machine
    // sandbox processes that start slowly would end runs failed for reasons that are not NATS's
    sys = new System(t, { WARDEN_WORKSPACE: workspace, WARDEN_ACK_WAIT_MS: '5000', WORKER_SANDBOX: 'inline' });
    await sys.startAll();
    stage = 'started';
    clearTimeout(timer);
  }, 90_000);
  afterAll(async () => {
    await sys?.stopAll();
    await t?.cleanup();
    await cluster.stop();
  }, 60_000);

  it('every stream and KV bucket is created at R3 across the three nodes', async () => {
    const names: string[] = [];
    for await (const si of t.bus.jsm.streams.list()) names.push(si.config.name);
    expect(names).toEqual(expect.arrayContaining(Object.values(t.subjects.streams)));
    expect(names.some((n) => n.startsWith('KV_'))).toBe(true);
    for (const name of names) {
      const si = await t.bus.jsm.streams.info(name);
      expect({ name, replicas: si.config.num_replicas }).toEqual({ name, replicas: 3 });
      expect(si.cluster?.leader).toBeTruthy();
      expect(si.cluster?.replicas ?? []).toHaveLength(2);
    }
  });

  it(`${RATE}/s for ${SECONDS} s while the events stream's leader is killed -9 and restarted: every acked submission ends exactly once`, async () => {
    const acked = new Set<string>();
    const writes = new Map<string, string>();
    let publishFailures = 0;

    /** An integrator's publish: retried with the same Nats-Msg-Id until acked (JetStream drops the copies). */
    async function submit(i: number): Promise<void> {
      const runId = newId();
      const write = i % 2 === 0;
      const path = `out/${runId}.txt`;
      const body = JSON.stringify({
        run_id: runId,
        agent: { id: `agent-${i % 5}`, role: write ? 'dev' : 'research' },
        action: write
          ? { tool: 'fs.write_file', args: { path, content: runId } }
          : { tool: 'fs.read_file', args: { path: 'in.txt' } },
      });
      // while a stream elects a new leader a publish fails fast (no responders): keep trying for a minute
      const deadline = Date.now() + 60_000;
      for (let attempt = 0; Date.now() < deadline; attempt++) {
        try {
          await t.bus.js.publish(t.subjects.ingestTasks, body, { msgID: runId, timeout: 5000 });
          acked.add(runId);
          if (write) writes.set(runId, path);
          return;
        } catch {
          publishFailures++;
          await new Promise((r) => setTimeout(r, Math.min(1000, 100 * 2 ** Math.min(attempt, 4))));
        }
      }
    }

    const total = RATE * SECONDS;
    const started = Date.now();
    const inflight: Promise<void>[] = [];
    const events = await t.bus.jsm.streams.info(t.subjects.streams.events);
    const victim = cluster.indexOf(events.cluster?.leader);
    expect(victim).toBeGreaterThanOrEqual(0);
    let killedAt = 0;
    let restartedAt = 0;
    const chaos = (async () => {
      if (process.env.CLUSTER_TEST_KILL === '0') return;
      await new Promise((r) => setTimeout(r, (SECONDS * 1000) / 3));
      await cluster.kill9(victim);
      killedAt = Date.now() - started;
      await new Promise((r) => setTimeout(r, (SECONDS * 1000) / 4));
      await cluster.restart(victim);
      restartedAt = Date.now() - started;
    })();
    for (let i = 0; i < total; i++) {
      // open loop: the schedule does not wait for acks
      const due = started + (i * 1000) / RATE;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      inflight.push(submit(i));
    }
    await Promise.all(inflight);
    await chaos;
    if (process.env.CLUSTER_TEST_KILL !== '0') {
      expect(killedAt).toBeGreaterThan(0);
      expect(restartedAt).toBeGreaterThan(killedAt);
    }
    expect(acked.size).toBe(total);

    // every acked run reaches a terminal status in the orchestrator's read model
    const pg = new Client({ connectionString: t.databaseUrl });
    await pg.connect();
    try {
      const byStatus = async () =>
        Object.fromEntries(
          (
            await pg.query<{ status: string; n: string }>(
              'SELECT status, count(*) AS n FROM orchestrator.runs GROUP BY status ORDER BY status',
            )
          ).rows.map((r) => [r.status, Number(r.n)]),
        ) as Record<string, number>;
      const finished = async () => {
        const s = await byStatus();
        return ['succeeded', 'failed', 'denied', 'rejected', 'expired', 'cancelled'].reduce(
          (n, k) => n + (s[k] ?? 0),
          0,
        );
      };
      try {
        await waitFor(async () => (await finished()) >= total, 'every acked run to finish', 90_000, 500);
      } catch (err) {
        // say where the runs stand, per status and per event type in the log, before failing
        const types = new Map<string, number>();
        for (const m of await readAll(t.bus, t.subjects.streams.events, t.subjects.runEvents)) {
          const type = m.subject.split('.').pop()!;
          types.set(type, (types.get(type) ?? 0) + 1);
        }
        const dlq = (await readAll(t.bus, t.subjects.streams.deadLetters, `${t.subjects.prefix}.dlq.>`)).map(
          (m) => `${m.subject} ${JSON.stringify(m.json()).slice(0, 200)}`,
        );
        const consumers: Record<string, number> = {};
        for (const stream of Object.values(t.subjects.streams))
          for await (const ci of t.bus.jsm.consumers.list(stream))
            consumers[`${stream}/${ci.name}`] = ci.num_pending + ci.num_ack_pending;
        throw new Error(
          `${(err as Error).message}\nruns by status: ${JSON.stringify(await byStatus())}\n` +
            `events by type: ${JSON.stringify(Object.fromEntries(types))}\nconsumer backlog: ${JSON.stringify(consumers)}\n` +
            `dead letters (${dlq.length}): ${dlq.slice(0, 5).join('\n')}`,
        );
      }
      // a straggler (a duplicate that should not exist) has time to arrive before counting
      await new Promise((r) => setTimeout(r, 1500));

      const log = (await readAll(t.bus, t.subjects.streams.events, t.subjects.runEvents)).map(
        (m) =>
          m.json() as { id: string; type: string; run_id: string; data: { result?: { outcome_unknown?: boolean } } },
      );
      const byRun = new Map<string, typeof log>();
      for (const e of log) byRun.set(e.run_id, [...(byRun.get(e.run_id) ?? []), e]);
      expect(byRun.size).toBe(total);
      const statuses = new Map<string, number>();
      const notSucceeded: unknown[] = [];
      for (const runId of acked) {
        const evs = byRun.get(runId) ?? [];
        const terminal = evs.filter((e) => TERMINAL_EVENTS.includes(e.type));
        expect({ runId, terminal: terminal.map((e) => e.type) }).toEqual({ runId, terminal: [expect.any(String)] });
        expect(new Set(evs.map((e) => e.id)).size).toBe(evs.length);
        for (const type of ['task_received', 'decision_made', 'run_queued', 'run_started'])
          expect({ runId, type, n: evs.filter((e) => e.type === type).length }).toEqual({ runId, type, n: 1 });
        const end = terminal[0]!;
        statuses.set(end.type, (statuses.get(end.type) ?? 0) + 1);
        if (end.type !== 'run_succeeded') notSucceeded.push({ runId, type: end.type, data: end.data });
      }
      // a NATS node is all that died: no worker lost an execution, so every run succeeds
      expect(notSucceeded).toEqual([]);

      // the side effects: one file per write run, holding that run's id; one execution claim per run
      const files = readdirSync(join(workspace, 'out'));
      expect(files.length).toBe(writes.size);
      for (const [runId, path] of writes) expect(readFileSync(join(workspace, path), 'utf8')).toBe(runId);
      const claims = await pg.query<{ run_id: string; attempt: number }>(
        'SELECT run_id, attempt FROM workers.executions',
      );
      expect(claims.rows).toHaveLength(total);
      expect(claims.rows.filter((r) => r.attempt !== 1)).toEqual([]);
      console.log(
        `cluster: ${total} acked at ${RATE}/s, node ${victim + 1} (events leader) killed at ${killedAt} ms, ` +
          `back at ${restartedAt} ms; ${publishFailures} publish retries; ends: ${JSON.stringify(Object.fromEntries(statuses))}`,
      );
    } finally {
      await pg.end();
    }

    // the restarted node caught up: every stream has all three replicas current again
    await waitFor(
      async () => {
        for (const name of Object.values(t.subjects.streams)) {
          const si = await t.bus.jsm.streams.info(name);
          const peers = si.cluster?.replicas ?? [];
          if (peers.length !== 2 || peers.some((p) => !p.current)) return false;
        }
        return true;
      },
      'the restarted node to be current on every stream',
      30_000,
      500,
    );
  }, 240_000);
});
