import 'reflect-metadata';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { jetstream } from '@nats-io/jetstream';
import { newId } from '@warden/kernel';
import { connectBus, type BusConnection } from '@warden/bus';
import { createTestEnv, readAll, waitFor, type TestEnv } from '@warden/testing';
import { FakeSlack } from '../services/approvals/test/support/fake-slack';
import { SERVICES, System, type ServiceName } from './support/system';

/**
 * Runs a private nats-server with deploy/nats/nats-prod.conf and all five services in this process,
 * each connected as its own NATS user, and drives the real flows through them. Any permission the
 * config lacks shows up as a failed flow and as a violation in the server log (asserted empty for
 * the service users); the integrator user is held to submitting under its own role and reading run
 * events.
 */
const CONF = resolve(__dirname, '../deploy/nats/nats-prod.conf');
const USERS = ['SYS', 'INGEST', 'POLICY', 'ORCHESTRATOR', 'APPROVALS', 'WORKERS', 'INTEGRATOR_DEV'];
// NATS reads an env value as a config value: a password must start with a letter
const passwords = Object.fromEntries(USERS.map((u) => [u, `pw${randomBytes(12).toString('hex')}`]));
const ADMIN = `admin-${randomBytes(16).toString('hex')}`;
const TERMINAL = ['succeeded', 'failed', 'denied', 'rejected', 'expired', 'cancelled'];
// the prod config's example integrator: may submit under role dev only (warden.ingest.tasks.dev)
const INTEGRATOR = 'INTEGRATOR_DEV';
const INTEGRATOR_INBOX = '_INBOX_integrator_dev';

let server: ChildProcess;
let dir: string;
let serverLog: string;
let port: number;
let t: TestEnv;
let sys: System;
let workspace: string;
let integrator: NatsConnection;
// Slack on, so approvals runs its durable consumers (approvals-slack-*) too
const slack = new FakeSlack();
const conns: NatsConnection[] = [];
const buses: BusConnection[] = [];

async function freePort(): Promise<number> {
  return new Promise((ok) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => ok(p));
    });
  });
}

/** A bus connection (JetStream client and manager) as one of the service users. */
async function busAs(user: ServiceName): Promise<BusConnection> {
  const bus = await connectBus(`nats://${user}:${passwords[user.toUpperCase()]}@127.0.0.1:${port}`, `perm-${user}`);
  buses.push(bus);
  return bus;
}

async function as(user: string, inboxPrefix?: string): Promise<NatsConnection> {
  const nc = await connect({
    servers: `127.0.0.1:${port}`,
    user: user.toLowerCase(),
    pass: passwords[user.toUpperCase()],
    ...(inboxPrefix ? { inboxPrefix } : {}),
  });
  conns.push(nc);
  return nc;
}

/** Permission errors the server reports to this connection (async: publishes are fire-and-forget). */
function permissionErrors(nc: NatsConnection): string[] {
  const errors: string[] = [];
  void (async () => {
    for await (const s of nc.status())
      if (s.type === 'error') {
        const msg = String((s as { error?: unknown }).error ?? '');
        if (/permission/i.test(msg)) errors.push(msg);
      }
  })();
  return errors;
}

/** `Publish Violation` / `Subscription Violation` lines of the server log for one user. */
function violations(user?: string): string[] {
  return readFileSync(serverLog, 'utf8')
    .split('\n')
    .filter((l) => /violation/i.test(l) && (!user || l.includes(`"${user}"`)));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'warden-nats-'));
  serverLog = join(dir, 'server.log');
  port = await freePort();
  const env: Record<string, string> = { ...process.env, NATS_SERVER_NAME: 'perm-test', NATS_STORE_DIR: dir } as Record<
    string,
    string
  >;
  for (const u of USERS) env[`NATS_${u}_PASSWORD`] = passwords[u]!;
  server = spawn('nats-server', ['-c', CONF, '-a', '127.0.0.1', '-p', String(port), '-m', String(await freePort())], {
    env,
    stdio: ['ignore', 'ignore', openSync(serverLog, 'w')],
  });
  await waitFor(
    () =>
      connect({ servers: `127.0.0.1:${port}`, user: 'sys', pass: passwords.SYS }).then((nc) =>
        nc.close().then(() => true),
      ),
    'private nats-server',
    10_000,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${readFileSync(serverLog, 'utf8').slice(-2000)}`);
  });

  // the database of this test; its streams on the shared server go unused (everything here is `warden`)
  t = await createTestEnv();
  workspace = mkdtempSync(join(tmpdir(), 'warden-perm-ws-'));
  const perService: Partial<Record<ServiceName, Record<string, string>>> = {};
  for (const s of SERVICES) perService[s] = { NATS_URL: `nats://${s}:${passwords[s.toUpperCase()]}@127.0.0.1:${port}` };
  await slack.start();
  Object.assign(perService.approvals!, {
    SLACK_API_URL: slack.apiUrl,
    SLACK_BOT_TOKEN: 'xoxb-perm-test',
    SLACK_APPROVALS_CHANNEL: 'C0PERM',
  });
  sys = new System(
    t,
    { WARDEN_SUBJECT_PREFIX: 'warden', WARDEN_WORKSPACE: workspace, WARDEN_BOOTSTRAP_ADMIN_TOKEN: ADMIN },
    perService,
  );
  try {
    await sys.startAll();
  } catch (err) {
    throw new Error(`${(err as Error).message}\nserver violations:\n${violations().join('\n')}`);
  }
  integrator = await as(INTEGRATOR, INTEGRATOR_INBOX);
});

afterAll(async () => {
  for (const nc of [...conns, ...buses.map((b) => b.nc)]) await nc.close().catch(() => undefined);
  await sys?.stopAll();
  await t?.cleanup();
  await slack.stop();
  server?.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 200));
  if (dir) rmSync(dir, { recursive: true, force: true });
  if (workspace) rmSync(workspace, { recursive: true, force: true });
});

const proposal = (tool: string, args: Record<string, unknown>, role = 'dev') => ({
  run_id: newId(),
  agent: { id: 'agent-perm', role },
  session_id: `sess-${randomBytes(4).toString('hex')}`,
  action: { tool, args },
});

/** JetStream publish as the integrator user on its role's subject (PubAck to its own inbox prefix). */
async function submit(p: unknown, msgId = newId()) {
  return jetstream(integrator).publish('warden.ingest.tasks.dev', JSON.stringify(p), { msgID: msgId });
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json' });

interface RunView {
  status: string;
  approval?: { id: string };
  decision?: { rule_ids: string[] };
  events: { type: string }[];
}

async function getRun(runId: string): Promise<RunView | undefined> {
  const r = await fetch(`${sys.url('orchestrator')}/v1/runs/${runId}`, { headers: bearer(ADMIN) });
  return r.status === 200 ? ((await r.json()) as RunView) : undefined;
}

async function runWith(runId: string, statuses: string[], what: string): Promise<RunView> {
  return waitFor(
    async () => {
      const run = await getRun(runId);
      return run && statuses.includes(run.status) ? run : undefined;
    },
    `run ${runId} ${what}`,
    20_000,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\nserver violations:\n${violations().join('\n')}`);
  });
}

async function operator(name: string, maxTier: number): Promise<string> {
  const r = await fetch(`${sys.url('approvals')}/v1/operators`, {
    method: 'POST',
    headers: bearer(ADMIN),
    body: JSON.stringify({ name, roles: ['approver'], max_tier: maxTier }),
  });
  expect(r.status).toBe(201);
  return ((await r.json()) as { token: string }).token;
}

describe('deploy/nats/nats-prod.conf with all five services, each as its own user', () => {
  it('starts every service (streams, durables, directory replay, KV bucket) without a violation', () => {
    expect([...sys.apps.keys()].sort()).toEqual([...SERVICES].sort());
    expect(violations()).toEqual([]);
  });

  it('runs an allowed fs.write_file submitted by an integrator to succeeded', async () => {
    const p = proposal('fs.write_file', { path: 'notes/perm.md', content: 'written under prod users' });
    const ack = await submit(p);
    expect(ack.stream).toBe('WARDEN_INGEST');
    const run = await runWith(p.run_id, TERMINAL, 'to finish');
    expect(run.status).toBe('succeeded');
    expect(run.events.map((e) => e.type)).toEqual([
      'task_received',
      'decision_made',
      'run_queued',
      'run_started',
      'run_succeeded',
    ]);
    expect(readFileSync(join(workspace, 'notes/perm.md'), 'utf8')).toBe('written under prod users');
  });

  it('runs an escalation approved over REST (operators from POST /v1/operators, policy re-check) to succeeded', async () => {
    const alice = await operator('alice-perm', 3);
    const bob = await operator('bob-perm', 3);
    const p = proposal('fs.write_file', { path: 'prod/perm.txt', content: 'two approvals' });
    await submit(p);
    const waiting = await runWith(p.run_id, ['awaiting_approval'], 'awaiting approval');
    const approvalId = waiting.approval!.id;
    // the approvals read model catches up with approval_requested
    await waitFor(async () => {
      const r = await fetch(`${sys.url('approvals')}/v1/approvals/${approvalId}`, { headers: bearer(ADMIN) });
      return r.status === 200;
    }, 'approval in the inbox');
    for (const token of [alice, bob]) {
      const r = await fetch(`${sys.url('approvals')}/v1/approvals/${approvalId}/approve`, {
        method: 'POST',
        headers: bearer(token),
        body: JSON.stringify({ comment: 'ok' }),
      });
      expect(r.status).toBe(200);
    }
    const run = await runWith(p.run_id, TERMINAL, 'to finish');
    expect(run.status).toBe('succeeded');
    // approvals' durable Slack consumers took approval_requested and approval_granted (and acked them)
    await waitFor(
      () => slack.callsOf('chat.postMessage').length >= 1 && slack.callsOf('chat.update').length >= 1,
      'Slack post and update',
    );
    expect(run.events.map((e) => e.type)).toEqual(
      expect.arrayContaining(['approval_requested', 'approval_vote', 'approval_granted', 'run_succeeded']),
    );
    expect(readFileSync(join(workspace, 'prod/perm.txt'), 'utf8')).toBe('two approvals');
  });

  it('streams run events live to the dashboard (approvals core subscription)', async () => {
    const ctl = new AbortController();
    const res = await fetch(`${sys.url('approvals')}/v1/stream`, { headers: bearer(ADMIN), signal: ctl.signal });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const p = proposal('fs.list_dir', { path: '.' });
    let text = '';
    const seen = (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return false;
        text += Buffer.from(value).toString('utf8');
        if (text.includes(p.run_id)) return true;
      }
    })();
    await submit(p);
    const found = await Promise.race([seen, new Promise((r) => setTimeout(() => r(false), 10_000))]);
    ctl.abort();
    expect(found).toBe(true);
  });

  it('issues a bound API key over ingest POST /v1/keys and accepts POST /v1/tasks with it (its agent only)', async () => {
    const k = await fetch(`${sys.url('ingest')}/v1/keys`, {
      method: 'POST',
      headers: bearer(ADMIN),
      body: JSON.stringify({ name: 'perm', owner: 'perm', agent: { id: 'agent-perm', role: 'dev' } }),
    });
    expect(k.status).toBe(201);
    const { key } = (await k.json()) as { key: string };
    const p = proposal('fs.write_file', { path: 'notes/api.md', content: 'over http' });
    // the key reaches ingest's directory replay (api_key_created) before it authenticates
    const r = await waitFor(
      async () => {
        const res = await fetch(`${sys.url('ingest')}/v1/tasks`, {
          method: 'POST',
          headers: bearer(key),
          body: JSON.stringify(p),
        });
        return res.status === 401 ? undefined : res;
      },
      'the new key to authenticate',
      5000,
    );
    expect(r.status).toBe(202);
    expect(((await r.json()) as { run_id: string }).run_id).toBe(p.run_id);
    expect((await runWith(p.run_id, TERMINAL, 'to finish')).status).toBe('succeeded');
    // the key speaks for agent-perm as dev only
    const ops = await fetch(`${sys.url('ingest')}/v1/tasks`, {
      method: 'POST',
      headers: bearer(key),
      body: JSON.stringify(proposal('fs.read_file', { path: 'notes/api.md' }, 'ops')),
    });
    expect(ops.status).toBe(403);
    const bad = await fetch(`${sys.url('ingest')}/v1/tasks`, {
      method: 'POST',
      headers: bearer(`wk_${randomBytes(32).toString('base64url')}`),
      body: JSON.stringify(p),
    });
    expect(bad.status).toBe(401);
  });

  it('activates a modified bundle with PUT /v1/policy (KV bucket WARDEN_POLICY) and judges by it', async () => {
    const raw = parse(readFileSync(resolve(__dirname, '../deploy/policies/default.yaml'), 'utf8')) as {
      version: string;
      rules: Record<string, unknown>[];
    };
    raw.version = 'perm-test.1';
    raw.rules.unshift({ id: 'perm-no-list', tools: ['fs.list_dir'], outcome: 'deny', reason: 'listing is off' });
    const res = await fetch(`${sys.url('policy')}/v1/policy`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/yaml' },
      body: stringify(raw),
    });
    expect(res.status).toBe(200);
    const info = (await res.json()) as { version: string; digest: string };
    expect(info.version).toBe('perm-test.1');
    const active = (await (await fetch(`${sys.url('policy')}/v1/policy`)).json()) as { digest: string };
    expect(active.digest).toBe(info.digest);
    const p = proposal('fs.list_dir', { path: '.' });
    await submit(p);
    const run = await runWith(p.run_id, TERMINAL, 'to finish');
    expect(run.status).toBe('denied');
    expect(run.decision?.rule_ids).toContain('perm-no-list');
  });

  it('a restarted policy replica adopts the active bundle from the KV bucket', async () => {
    await sys.stop('policy');
    await sys.start('policy');
    const active = (await (await fetch(`${sys.url('policy')}/v1/policy`)).json()) as { version: string };
    expect(active.version).toBe('perm-test.1');
  });

  it('refuses a command forged by the integrator user; nothing executes', async () => {
    const errors = permissionErrors(integrator);
    const forged = {
      run_id: newId(),
      role: 'dev',
      action: { tool: 'fs.write_file', args: { path: 'forged.txt', content: 'x' } },
    };
    integrator.publish('warden.cmd.workers.dev.execute', JSON.stringify(forged));
    await integrator.flush();
    await waitFor(() => errors.some((e) => e.includes('warden.cmd.workers.dev.execute')), 'publish violation');
    // a JetStream publish gets no PubAck either: the message never reaches WARDEN_CMD
    await expect(
      jetstream(integrator, { timeout: 1500 }).publish('warden.cmd.workers.dev.execute', JSON.stringify(forged)),
    ).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 500));
    expect(existsSync(join(workspace, 'forged.txt'))).toBe(false);
    expect(violations('integrator_dev').some((l) => l.includes('warden.cmd.workers.dev.execute'))).toBe(true);
  });

  it('an integrator cannot submit under a role it was not granted: the server refuses the publish', async () => {
    const errors = permissionErrors(integrator);
    const ops = proposal('fs.write_file', { path: 'ops-only.txt', content: 'x' }, 'ops');
    // another role's subject, and the unscoped subject (any role): no PubAck, nothing reaches WARDEN_INGEST
    for (const subject of ['warden.ingest.tasks.ops', 'warden.ingest.tasks'])
      await expect(
        jetstream(integrator, { timeout: 1500 }).publish(subject, JSON.stringify(ops), { msgID: newId() }),
      ).rejects.toThrow();
    await waitFor(
      () => ['warden.ingest.tasks.ops', 'warden.ingest.tasks'].every((s) => errors.some((e) => e.includes(`"${s}"`))),
      'publish violations for the ungranted subjects',
      5000,
    );
    await new Promise((r) => setTimeout(r, 500));
    expect(await getRun(ops.run_id)).toBeUndefined();
    expect(existsSync(join(workspace, 'ops-only.txt'))).toBe(false);
  });

  it('a role mismatch on its own role subject becomes task_rejected on agent.role; no run', async () => {
    const nc = await as(INTEGRATOR, INTEGRATOR_INBOX);
    const msgId = `role-mismatch-${randomBytes(4).toString('hex')}`;
    const seen: { data: { errors: { path: string }[]; agent_id?: string } }[] = [];
    nc.subscribe(`warden.events.rejected.${msgId}.task_rejected`, {
      callback: (_e, m) => void seen.push(m.json()),
    });
    await nc.flush();
    const ops = proposal('fs.write_file', { path: 'ops-claimed.txt', content: 'x' }, 'ops');
    const ack = await submit(ops, msgId);
    expect(ack.stream).toBe('WARDEN_INGEST');
    await waitFor(() => seen.length > 0, 'task_rejected for the role mismatch', 10_000);
    expect(seen[0]!.data).toMatchObject({ agent_id: 'agent-perm', errors: [{ path: 'agent.role' }] });
    await new Promise((r) => setTimeout(r, 500));
    expect(await getRun(ops.run_id)).toBeUndefined();
    expect(existsSync(join(workspace, 'ops-claimed.txt'))).toBe(false);
  });

  it('workers refuse an unsigned command and announce command_refused on both subject shapes', async () => {
    // only the orchestrator user may publish commands; an unsigned one is refused by the workers
    const orch = await busAs('orchestrator');
    const runId = newId();
    const unsigned = { run_id: runId, role: 'dev', action: { tool: 'fs.write_file', args: { path: 'unsigned.txt' } } };
    await orch.js.publish('warden.cmd.workers.dev.execute', JSON.stringify(unsigned), { msgID: newId() });
    await orch.js.publish('warden.cmd.workers.dev.execute', 'not json at all', { msgID: newId() });
    const onRun = await waitFor(async () => {
      const m = await readAll(orch, 'WARDEN_EVENTS', `warden.events.run.${runId}.command_refused`);
      return m.length ? m : undefined;
    }, 'command_refused on the run subject');
    expect(onRun[0]!.json()).toMatchObject({ type: 'command_refused', run_id: runId, producer: 'workers' });
    const tokenShaped = await waitFor(async () => {
      const m = await readAll(orch, 'WARDEN_EVENTS', 'warden.events.refused.*.command_refused');
      return m.length ? m : undefined;
    }, 'command_refused on events.refused.<token>');
    expect(tokenShaped[0]!.json()).toMatchObject({ type: 'command_refused', run_id: null, producer: 'workers' });
    // (their dead letters go to warden.dlq.workers.execute-dev: a violation there fails the last test)
    expect(existsSync(join(workspace, 'unsigned.txt'))).toBe(false);
  });

  it('lets approvals submit compensating runs and re-read a stored closure', async () => {
    const approvals = await busAs('approvals');
    const p = proposal('fs.write_file', { path: 'notes/compensation.md', content: 'undo' });
    const ack = await approvals.js.publish('warden.ingest.tasks', JSON.stringify(p), { msgID: newId() });
    expect(ack.stream).toBe('WARDEN_INGEST');
    expect((await runWith(p.run_id, TERMINAL, 'to finish')).status).toBe('succeeded');
    const stored = await approvals.jsm.streams.getMessage('WARDEN_EVENTS', { seq: 1 });
    expect(stored?.subject).toMatch(/^warden\.events\./);
    // but not the ingest stream's raw submissions
    await expect(approvals.jsm.streams.getMessage('WARDEN_INGEST', { seq: 1 })).rejects.toThrow();
  });

  it("refuses integrators the directory, the command and other subjects, the stream API and the services' inboxes", async () => {
    const nc = await as(INTEGRATOR, INTEGRATOR_INBOX);
    const errors = permissionErrors(nc);
    for (const subject of ['warden.events.directory.>', 'warden.events.>', '_INBOX.>', 'warden.cmd.>', '$KV.>']) {
      const sub = nc.subscribe(subject);
      // nats.js settles `closed` with the permission error that closed the subscription
      const closed = sub.closed.then(
        (v: unknown) => (v instanceof Error ? v.message : 'closed'),
        (err: Error) => err.message,
      );
      await nc.flush();
      expect(await Promise.race([closed, new Promise((r) => setTimeout(() => r('still open'), 2000))])).toMatch(
        /permission/i,
      );
    }
    const forbidden = [
      'warden.events.run.x.decision_made',
      'warden.events.directory.x.api_key_created',
      'warden.events.rejected.x.task_rejected',
      'warden.cmd.workers.research.execute',
      'warden.policy.evaluate',
      '$KV.WARDEN_POLICY.active',
      '$JS.API.STREAM.INFO.WARDEN_EVENTS',
      '$JS.API.CONSUMER.CREATE.WARDEN_EVENTS',
    ];
    for (const subject of forbidden) nc.publish(subject, 'forged');
    await nc.flush();
    await waitFor(
      () => forbidden.every((s) => errors.some((e) => e.includes(s))),
      `publish violations for ${forbidden.join(', ')}`,
      5000,
    );
    // with the default inbox prefix not even a PubAck can come back
    const wrongInbox = await as(INTEGRATOR);
    await expect(
      jetstream(wrongInbox, { timeout: 1500 }).publish(
        'warden.ingest.tasks.dev',
        JSON.stringify(proposal('git.status', {})),
      ),
    ).rejects.toThrow();
  });

  it('lets integrators follow run events and their rejections live', async () => {
    const nc = await as(INTEGRATOR, INTEGRATOR_INBOX);
    const seen: string[] = [];
    nc.subscribe('warden.events.run.>', { callback: (_e, m) => void seen.push(m.subject) });
    nc.subscribe('warden.events.rejected.>', { callback: (_e, m) => void seen.push(m.subject) });
    await nc.flush();
    const p = proposal('fs.read_file', { path: 'notes/perm.md' });
    await submit(p);
    await submit({ agent: { id: 'agent-perm' }, action: { tool: 'no' } });
    await waitFor(
      () => seen.some((s) => s === `warden.events.run.${p.run_id}.task_received`),
      'task_received seen by the integrator',
      10_000,
    );
    await waitFor(() => seen.some((s) => s.endsWith('.task_rejected')), 'task_rejected seen by the integrator', 10_000);
  });

  it('keeps each service to its own event types', async () => {
    const policy = await as('POLICY');
    const workers = await as('WORKERS');
    const pe = permissionErrors(policy);
    const we = permissionErrors(workers);
    policy.publish('warden.events.run.x.task_received', 'forged');
    policy.publish('warden.events.directory.x.api_key_created', 'forged');
    policy.publish('warden.cmd.workers.dev.execute', 'forged');
    workers.publish('warden.events.run.x.decision_made', 'forged');
    workers.publish('warden.cmd.workers.dev.execute', 'forged');
    workers.publish('warden.events.directory.x.operator_created', 'forged');
    await Promise.all([policy.flush(), workers.flush()]);
    await waitFor(() => pe.length >= 3 && we.length >= 3, 'publish permission violations', 5000);
  });

  it('the flows above needed nothing the service users are not allowed', () => {
    // the forging tests connect as service users too: only what they try on purpose may show up
    const deliberate = new Set([
      'warden.events.run.x.task_received',
      'warden.events.directory.x.api_key_created',
      'warden.cmd.workers.dev.execute',
      'warden.events.run.x.decision_made',
      'warden.events.directory.x.operator_created',
      '$JS.API.STREAM.MSG.GET.WARDEN_INGEST',
    ]);
    const forged = { test: (l: string) => deliberate.has(/Subject "([^"]+)"/.exec(l)?.[1] ?? '') };
    for (const s of SERVICES) expect(violations(s).filter((l) => !forged.test(l))).toEqual([]);
  });
});
