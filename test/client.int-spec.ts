import { createServer, request, type Server } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import {
  RunDeniedError,
  WardenAuthError,
  WardenClient,
  WardenValidationError,
  type WardenClientOptions,
} from '@warden/client';
import { newId } from '@warden/kernel';
import { createTestEnv, type TestEnv } from '@warden/testing';
import { httpClient } from './support/client';
import { AdminApi } from './support/admin-api';
import { System } from './support/system';

const ADMIN = 'client-admin-token-0123456789abcdef';

describe('@warden/client: propose, follow and gate runs over HTTP with an API key', () => {
  let t: TestEnv;
  let sys: System;
  let api: AdminApi;
  let devKey: string;
  let otherKey: string;
  let unboundKey: string;
  const approvers: string[] = [];
  const admin = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
  const agent = { id: 'agent-client', role: 'dev' };

  const client = (opts: Partial<WardenClientOptions> = {}): WardenClient =>
    httpClient(sys, { apiKey: devKey, agent, ...opts });

  async function runsOfSession(session: string): Promise<{ run_id: string }[]> {
    const r = await fetch(`${sys.url('orchestrator')}/v1/runs?session_id=${session}&limit=100`, { headers: admin });
    return ((await r.json()) as { runs: { run_id: string }[] }).runs;
  }

  beforeAll(async () => {
    t = await createTestEnv();
    const workspace = mkdtempSync(join(tmpdir(), 'warden-client-'));
    writeFileSync(join(workspace, 'hello.txt'), 'hello, client\n');
    sys = new System(t, { WARDEN_WORKSPACE: workspace, WARDEN_BOOTSTRAP_ADMIN_TOKEN: ADMIN });
    api = new AdminApi(sys, ADMIN);
    await sys.startAll();
    const createKey = (bind?: { id: string; role: string }) =>
      api.createKey({ name: `client-${newId()}`, owner: 'client-test', agent: bind });
    devKey = await createKey(agent);
    otherKey = await createKey({ id: 'agent-someone-else', role: 'dev' });
    unboundKey = await createKey();
    approvers.push(await api.createApprover('alice-client'), await api.createApprover('bob-client'));
  });
  afterAll(async () => {
    await sys?.stopAll();
    await t?.cleanup();
  });

  it('an allowed proposal resolves to succeeded with the worker output; events() yields the timeline in order', async () => {
    const run = await client().propose({ tool: 'fs.read_file', args: { path: 'hello.txt' }, session: `s-${newId()}` });
    expect(run.duplicate).toBe(false);
    const outcome = await run.outcome();
    expect(outcome).toMatchObject({ runId: run.id, status: 'succeeded', decision: { outcome: 'allow', tier: 1 } });
    expect(JSON.stringify(outcome.result?.output)).toContain('hello, client');
    const types: string[] = [];
    for await (const e of run.events()) types.push(e.type);
    expect(types).toEqual(['task_received', 'decision_made', 'run_queued', 'run_started', 'run_succeeded']);
  });

  it('a denied proposal resolves to denied with the policy reasons (no exception)', async () => {
    const run = await client().propose({ tool: 'secrets.read', args: { name: 'db' } });
    const outcome = await run.outcome();
    expect(outcome.status).toBe('denied');
    expect(outcome.decision?.outcome).toBe('deny');
    expect(outcome.decision?.reasons.length).toBeGreaterThan(0);
  });

  it('an escalated proposal waits for the approvers, then resolves with the approval and the result', async () => {
    const run = await client().propose({
      tool: 'fs.write_file',
      args: { path: 'prod/notes.md', content: 'approved' },
      intent: 'write a production note',
    });
    const statuses: string[] = [];
    const updates = (async () => {
      for await (const s of run.updates()) statuses.push(s.status);
    })();
    const approvalId = await api.pendingApprovalOf(run.id);
    expect(await api.vote(approvalId, approvers[0]!, 'approve', 'ok')).toBe(200);
    expect(await api.vote(approvalId, approvers[1]!, 'approve', 'ok')).toBe(200);
    const outcome = await run.outcome();
    await updates;
    expect(outcome.status).toBe('succeeded');
    expect(outcome.approval).toMatchObject({ status: 'granted', tier: 3, required_votes: 2 });
    expect(statuses).toContain('awaiting_approval');
    expect(statuses[statuses.length - 1]).toBe('succeeded');
  });

  it('a retry after a lost answer reuses the idempotency key: one run, never two', async () => {
    // a proxy that forwards the first POST to ingest, lets ingest answer, then drops the connection
    let dropped = 0;
    const target = new URL(sys.url('ingest'));
    const proxy: Server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const up = request(
          { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
          (upRes) => {
            const body: Buffer[] = [];
            upRes.on('data', (c: Buffer) => body.push(c));
            upRes.on('end', () => {
              if (req.method === 'POST' && dropped === 0) {
                dropped++;
                req.socket.destroy(); // ingest stored the run; the client never hears of it
                return;
              }
              res.writeHead(upRes.statusCode ?? 502, upRes.headers);
              res.end(Buffer.concat(body));
            });
          },
        );
        up.end(Buffer.concat(chunks));
      });
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const session = `s-${newId()}`;
      const c = client({ baseUrl: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}` });
      const run = await c.propose({ tool: 'fs.read_file', args: { path: 'hello.txt' }, session });
      expect(dropped).toBe(1);
      // the retry found the run the lost answer had created: this call's own run, not an earlier call's
      expect(run.duplicate).toBe(false);
      expect((await run.outcome()).status).toBe('succeeded');
      expect((await runsOfSession(session)).map((r) => r.run_id)).toEqual([run.id]);
    } finally {
      await new Promise((r) => proxy.close(r));
    }
  });

  it('errors are typed with the contract codes and field paths', async () => {
    const bad = await client()
      .propose({ tool: 'NotATool' })
      .catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(WardenValidationError);
    expect((bad as WardenValidationError).errors.map((e) => e.path)).toContain('action.tool');
    const mismatch = await client({ apiKey: otherKey })
      .propose({ tool: 'fs.read_file', args: { path: 'hello.txt' } })
      .catch((e: unknown) => e);
    expect(mismatch).toBeInstanceOf(WardenAuthError);
    expect(mismatch).toMatchObject({ status: 403, code: 'KEY.AGENT_MISMATCH' });
    const noKey = await client({ apiKey: 'wk_nope' })
      .propose({ tool: 'fs.read_file' })
      .catch((e: unknown) => e);
    expect(noKey).toMatchObject({ status: 401 });
  });

  it("the run stream serves a key only its own agent's runs, and no unbound key", async () => {
    const run = await client().propose({ tool: 'fs.read_file', args: { path: 'hello.txt' } });
    await run.outcome();
    const other = await client({ apiKey: otherKey })
      .run(run.id)
      .outcome()
      .catch((e: unknown) => e);
    expect(other).toMatchObject({ status: 404, code: 'RUN.NOT_FOUND' });
    const unbound = await fetch(`${sys.url('orchestrator')}/v1/runs/${run.id}/stream`, {
      headers: { authorization: `Bearer ${unboundKey}` },
    });
    expect(unbound.status).toBe(403);
    // a viewer (operator) may follow any run
    const viewer = await fetch(`${sys.url('orchestrator')}/v1/runs/${run.id}/stream`, { headers: admin });
    expect(viewer.status).toBe(200);
    expect(await viewer.text()).toMatch(/event: end\n/);
  });

  it('guard() throws RunDeniedError with the reasons and never runs the function on a denial', async () => {
    let ran = 0;
    const read = client().guard('secrets.read', async () => {
      ran++;
      return 'secret';
    });
    const err = await read({ name: 'db' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunDeniedError);
    expect((err as RunDeniedError).code).toBe('RUN.DENIED');
    expect((err as RunDeniedError).reasons.length).toBeGreaterThan(0);
    expect(ran).toBe(0);
  });
});
