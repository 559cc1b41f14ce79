import 'reflect-metadata';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { jetstream } from '@nats-io/jetstream';
import { startService } from '@warden/runtime';
import { createTestEnv, waitFor, type TestEnv } from '@warden/testing';
import { AppModule } from '../src/app.module';
import { loadConfig } from '../src/config';

/**
 * Runs a private nats-server with deploy/nats/nats-prod.conf and checks that the users' permissions
 * are enough for the ingest service (it starts, provisions, consumes and publishes as `ingest`) and
 * keep integrators to submitting and reading run events.
 */
const CONF = resolve(__dirname, '../../../deploy/nats/nats-prod.conf');
const USERS = ['SYS', 'INGEST', 'POLICY', 'ORCHESTRATOR', 'APPROVALS', 'WORKERS', 'INTEGRATOR'];
const passwords = Object.fromEntries(USERS.map((u) => [u, `pw${randomBytes(12).toString('hex')}`]));
const ADMIN = `admin-${randomBytes(16).toString('hex')}`;

let server: ChildProcess;
let dir: string;
let port: number;
let t: TestEnv;
let app: INestApplication | undefined;
let baseUrl: string;
const conns: NatsConnection[] = [];

async function freePort(): Promise<number> {
  return new Promise((ok) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => ok(p));
    });
  });
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

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'warden-nats-'));
  port = await freePort();
  const env: Record<string, string> = { ...process.env, NATS_SERVER_NAME: 'perm-test', NATS_STORE_DIR: dir } as Record<
    string,
    string
  >;
  for (const u of USERS) env[`NATS_${u}_PASSWORD`] = passwords[u]!;
  server = spawn('nats-server', ['-c', CONF, '-a', '127.0.0.1', '-p', String(port), '-m', String(await freePort())], {
    env,
    stdio: ['ignore', 'ignore', openSync(join(dir, 'server.log'), 'w')],
  });
  await waitFor(
    () =>
      connect({ servers: `127.0.0.1:${port}`, user: 'sys', pass: passwords.SYS }).then((nc) =>
        nc.close().then(() => true),
      ),
    'private nats-server',
    10_000,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${readFileSync(join(dir, 'server.log'), 'utf8').slice(-2000)}`);
  });
  t = await createTestEnv();
  app = await startService(
    AppModule.forRoot(
      loadConfig({
        ...process.env,
        ...t.env,
        NATS_URL: `nats://ingest:${passwords.INGEST}@127.0.0.1:${port}`,
        WARDEN_SUBJECT_PREFIX: 'warden',
        INGEST_PORT: '0',
        WARDEN_BOOTSTRAP_ADMIN_TOKEN: ADMIN,
        WARDEN_SECRETS_KEY: randomBytes(32).toString('base64'),
      }),
    ),
    { service: 'ingest', port: 0, host: '127.0.0.1' },
  );
  baseUrl = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const nc of conns) await nc.close().catch(() => undefined);
  await app?.close();
  await t?.cleanup();
  server?.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 200));
  rmSync(dir, { recursive: true, force: true });
});

const submission = { agent: { id: 'agent-perm', role: 'dev' }, action: { tool: 'fs.read_file', args: { path: 'a' } } };

describe('deploy/nats/nats-prod.conf', () => {
  it('lets ingest provision its streams, consume, publish events and serve /v1/tasks as user `ingest`', async () => {
    const key = await fetch(`${baseUrl}/v1/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'perm', owner: 'perm' }),
    });
    expect(key.status).toBe(201);
    const { key: apiKey } = (await key.json()) as { key: string };
    const r = await fetch(`${baseUrl}/v1/tasks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify(submission),
    });
    expect(r.status).toBe(202);
  });

  it('lets an integrator submit over JetStream (PubAck to its own inbox) and watch the run live', async () => {
    const nc = await as('INTEGRATOR', '_INBOX_integrator');
    const seen: string[] = [];
    const sub = nc.subscribe('warden.events.run.>', { callback: (_e, m) => void seen.push(m.subject) });
    await nc.flush();
    const ack = await jetstream(nc).publish('warden.ingest.tasks', JSON.stringify(submission), {
      msgID: randomBytes(8).toString('hex'),
    });
    expect(ack.stream).toBe('WARDEN_INGEST');
    // the ingest service (as user `ingest`) takes it in and its task_received reaches the integrator
    await waitFor(() => seen.some((s) => s.endsWith('.task_received')), 'task_received seen by the integrator', 10_000);
    sub.unsubscribe();
  });

  it("refuses integrators the directory, other publish subjects, the stream API and the services' inboxes", async () => {
    const nc = await as('INTEGRATOR', '_INBOX_integrator');
    const errors: string[] = [];
    void (async () => {
      for await (const s of nc.status())
        if (s.type === 'error') errors.push(String((s as { error?: unknown }).error ?? ''));
    })();
    for (const subject of ['warden.events.directory.>', '_INBOX.>', 'warden.cmd.>']) {
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
    for (const subject of [
      'warden.events.run.x.decision_made',
      'warden.cmd.workers.dev.execute',
      '$JS.API.STREAM.INFO.WARDEN_EVENTS',
    ]) {
      nc.publish(subject, 'forged');
      await nc.flush();
    }
    await waitFor(() => errors.filter((e) => /permission/i.test(e)).length >= 3, 'publish permission violations', 5000);
    // with the default inbox prefix not even a PubAck can come back
    const wrongInbox = await as('INTEGRATOR');
    await expect(
      jetstream(wrongInbox, { timeout: 1500 }).publish('warden.ingest.tasks', JSON.stringify(submission)),
    ).rejects.toThrow();
  });

  it('keeps each service to its own event types', async () => {
    const nc = await as('POLICY');
    const errors: string[] = [];
    void (async () => {
      for await (const s of nc.status())
        if (s.type === 'error') errors.push(String((s as { error?: unknown }).error ?? ''));
    })();
    // policy may publish decision_made but not task_received or api_key_created
    const js = jetstream(nc);
    nc.publish('warden.events.run.x.task_received', 'forged');
    nc.publish('warden.events.directory.x.api_key_created', 'forged');
    await nc.flush();
    await waitFor(() => errors.filter((e) => /permission/i.test(e)).length >= 2, 'publish permission violations', 5000);
    void js;
  });
});
