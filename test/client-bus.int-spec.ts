import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BusTransport, WardenClient, WardenValidationError, type Run } from '@warden/client';
import { makeEnvelope } from '@warden/bus';
import { PRODUCERS, type AnyEnvelope, type Envelope } from '@warden/contracts';
import { newId, ownPublicKey } from '@warden/kernel';
import { TEST_NATS_URL, createTestEnv, forgeAs, testKeyring, waitFor, type TestEnv } from '@warden/testing';
import { AdminApi } from './support/admin-api';
import { System } from './support/system';

const ADMIN = 'client-bus-admin-token-0123456789abcdef';

describe('@warden/client over the bus: publish on the per-role subject, follow verified events', () => {
  let t: TestEnv;
  let sys: System;
  let api: AdminApi;
  const approvers: string[] = [];
  const clients: WardenClient[] = [];
  const admin = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
  const agent = { id: 'agent-bus-client', role: 'dev' };
  // what an integrator is given: every producer's public key, no private one
  const producerKeys = PRODUCERS.map((p) => `${p}=${ownPublicKey(testKeyring(p))}`).join(',');

  function client(): WardenClient {
    const c = new WardenClient({ transport: 'bus', servers: TEST_NATS_URL, prefix: t.prefix, agent, producerKeys });
    clients.push(c);
    return c;
  }

  /** One approver's vote on the run's pending approval (tier 3 here: two distinct approvers). */
  async function approve(runId: string, token: string): Promise<void> {
    expect(await api.vote(await api.pendingApprovalOf(runId), token, 'approve', 'ok')).toBe(200);
  }

  /**
   * What an attacker with publish rights on the events subjects does once the run awaits approval:
   * "rejects" it with a correctly shaped `approval_rejected` signed by a key that is not approvals'.
   */
  async function forgeRejection(run: Run): Promise<AnyEnvelope> {
    let requested: Envelope<'approval_requested'> | undefined;
    for await (const e of run.events()) {
      if (e.type === 'approval_requested') {
        requested = e as Envelope<'approval_requested'>;
        break;
      }
    }
    const forged = forgeAs(
      makeEnvelope({
        type: 'approval_rejected',
        runId: run.id,
        producer: 'approvals',
        traceId: requested!.trace_id,
        data: { approval_id: requested!.data.approval_id, operators: ['mallory'], reason: 'forged' },
      }),
    );
    await t.bus.js.publish(t.subjects.event(run.id, 'approval_rejected'), JSON.stringify(forged));
    return forged as AnyEnvelope;
  }

  async function runsOfSession(session: string): Promise<{ run_id: string }[]> {
    const r = await fetch(`${sys.url('orchestrator')}/v1/runs?session_id=${session}&limit=100`, { headers: admin });
    return ((await r.json()) as { runs: { run_id: string }[] }).runs;
  }

  async function eventsOf(run: Run): Promise<AnyEnvelope[]> {
    const out: AnyEnvelope[] = [];
    for await (const e of run.events()) out.push(e);
    return out;
  }

  beforeAll(async () => {
    t = await createTestEnv();
    const workspace = mkdtempSync(join(tmpdir(), 'warden-client-bus-'));
    writeFileSync(join(workspace, 'hello.txt'), 'hello, bus client\n');
    sys = new System(t, { WARDEN_WORKSPACE: workspace, WARDEN_BOOTSTRAP_ADMIN_TOKEN: ADMIN });
    await sys.startAll();
    api = new AdminApi(sys, ADMIN);
    approvers.push(await api.createApprover('alice-bus'), await api.createApprover('bob-bus'));
  });
  afterAll(async () => {
    for (const c of clients) await c.close();
    await sys?.stopAll();
    await t?.cleanup();
  });

  it('an allowed proposal resolves to succeeded with the worker output; events() is the verified timeline', async () => {
    const run = await client().propose({ tool: 'fs.read_file', args: { path: 'hello.txt' }, session: `s-${newId()}` });
    expect(run.duplicate).toBe(false);
    const outcome = await run.outcome();
    expect(outcome).toMatchObject({ runId: run.id, status: 'succeeded', decision: { outcome: 'allow', tier: 1 } });
    expect(JSON.stringify(outcome.result?.output)).toContain('hello, bus client');
    expect((await eventsOf(run)).map((e) => e.type)).toEqual([
      'task_received',
      'decision_made',
      'run_queued',
      'run_started',
      'run_succeeded',
    ]);
    // the orchestrator's read model (which may lag a little) comes to the same view
    await waitFor(async () => {
      const r = await fetch(`${sys.url('orchestrator')}/v1/runs/${run.id}`, { headers: admin });
      return ((await r.json()) as { status: string }).status === 'succeeded';
    }, 'the read model to show the run succeeded');
  });

  it('a denied proposal resolves to denied with the policy reasons', async () => {
    const outcome = await (await client().propose({ tool: 'secrets.read', args: { name: 'db' } })).outcome();
    expect(outcome.status).toBe('denied');
    expect(outcome.decision?.outcome).toBe('deny');
    expect(outcome.denial?.reasons.length ?? outcome.decision?.reasons.length).toBeGreaterThan(0);
  });

  it('an escalated proposal waits for the approvers (REST), then resolves succeeded with the approval', async () => {
    const run = await client().propose({
      tool: 'fs.write_file',
      args: { path: 'prod/notes.md', content: 'approved over the bus' },
      intent: 'write a production note',
    });
    const statuses: string[] = [];
    const updates = (async () => {
      for await (const s of run.updates()) statuses.push(s.status);
    })();
    await approve(run.id, approvers[0]!);
    await approve(run.id, approvers[1]!);
    const outcome = await run.outcome();
    await updates;
    expect(outcome.status).toBe('succeeded');
    expect(outcome.approval).toMatchObject({ status: 'granted', tier: 3, required_votes: 2 });
    expect(statuses).toContain('awaiting_approval');
    expect(statuses[statuses.length - 1]).toBe('succeeded');
  });

  it('an invalid submission throws the typed validation error with the field path, and nothing runs', async () => {
    const session = `s-${newId()}`;
    const bad = await client()
      .propose({ tool: 'NotATool', session })
      .catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(WardenValidationError);
    expect(bad).toMatchObject({ status: 400, code: 'VALIDATION.FAILED' });
    expect((bad as WardenValidationError).errors.map((e) => e.path)).toContain('action.tool');
    // give the system time to (wrongly) start something, then check that nothing did
    await new Promise((r) => setTimeout(r, 500));
    expect(await runsOfSession(session)).toEqual([]);
  });

  it('the same idempotency key twice (a retry, a second client) is one run, never two', async () => {
    const session = `s-${newId()}`;
    const key = `retry-${newId()}`;
    const p = { tool: 'fs.read_file', args: { path: 'hello.txt' }, session, idempotencyKey: key };
    const first = await client().propose(p);
    const again = await client().propose(p);
    expect(again.id).toBe(first.id);
    expect(first.duplicate).toBe(false);
    expect(again.duplicate).toBe(true);
    expect((await again.outcome()).status).toBe('succeeded');
    expect((await runsOfSession(session)).map((r) => r.run_id)).toEqual([first.id]);
    const received = (await eventsOf(first)).filter((e) => e.type === 'task_received');
    expect(received).toHaveLength(1);
  });

  it("a forged terminal event on the run's subject is ignored: the outcome is the genuine one", async () => {
    const bus = new BusTransport({ servers: TEST_NATS_URL, prefix: t.prefix, producerKeys });
    const c = new WardenClient({ transport: bus, agent });
    clients.push(c);
    const run = await c.propose({
      tool: 'fs.write_file',
      args: { path: 'prod/forged.md', content: 'the genuine write' },
      intent: 'write a production note',
    });
    // once the run awaits its approval, an attacker "rejects" it with a forged event
    const forged = await forgeRejection(run);
    const skippedBefore = bus.forgedSkipped;
    await approve(run.id, approvers[0]!);
    await approve(run.id, approvers[1]!);
    const outcome = await run.outcome();
    expect(outcome.status).toBe('succeeded');
    expect(outcome.approval).toMatchObject({ status: 'granted' });
    expect(bus.forgedSkipped).toBeGreaterThan(skippedBefore);
    // the forged copy is on the stream, the client's timeline does not show it
    const timeline = await eventsOf(run);
    expect(timeline.map((e) => e.id)).not.toContain(forged.id);
    expect(timeline.map((e) => e.type)).not.toContain('approval_rejected');
  });

  describe("follow: 'live' (core subscriptions opened before publishing: all nats-prod.conf grants an integrator)", () => {
    function liveClient(): { c: WardenClient; bus: BusTransport } {
      const bus = new BusTransport({ servers: TEST_NATS_URL, prefix: t.prefix, producerKeys, follow: 'live' });
      const c = new WardenClient({ transport: bus, agent });
      clients.push(c);
      return { c, bus };
    }

    it('allowed → succeeded with the whole timeline; same key → same run; invalid → the typed error', async () => {
      const { c } = liveClient();
      const key = `live-${newId()}`;
      const run = await c.propose({ tool: 'fs.read_file', args: { path: 'hello.txt' }, session: `s-${newId()}` });
      const outcome = await run.outcome();
      expect(outcome.status).toBe('succeeded');
      expect(JSON.stringify(outcome.result?.output)).toContain('hello, bus client');
      expect((await eventsOf(run)).map((e) => e.type)).toEqual([
        'task_received',
        'decision_made',
        'run_queued',
        'run_started',
        'run_succeeded',
      ]);
      // the same key again from this client (a retry): the broker drops the copy, the same run comes back
      const p = { tool: 'fs.read_file', args: { path: 'hello.txt' }, idempotencyKey: key };
      const once = await c.propose(p);
      const retried = await c.propose(p);
      expect(retried.id).toBe(once.id);
      expect([once.duplicate, retried.duplicate]).toEqual([false, true]);
      expect((await retried.outcome()).status).toBe('succeeded');
      const bad = await c.propose({ tool: 'NotATool' }).catch((e: unknown) => e);
      expect(bad).toBeInstanceOf(WardenValidationError);
      expect((bad as WardenValidationError).errors.map((e) => e.path)).toContain('action.tool');
    });

    it('a forged approval_rejected published live is ignored: the approved run succeeds', async () => {
      const { c, bus } = liveClient();
      const run = await c.propose({
        tool: 'fs.write_file',
        args: { path: 'prod/live.md', content: 'the genuine live write' },
        intent: 'write a production note',
      });
      for await (const s of run.updates()) {
        if (s.status === 'awaiting_approval') break;
      }
      const forged = await forgeRejection(run);
      await waitFor(async () => bus.forgedSkipped > 0, 'the forged event to be refused');
      await approve(run.id, approvers[0]!);
      await approve(run.id, approvers[1]!);
      const outcome = await run.outcome();
      expect(outcome.status).toBe('succeeded');
      expect((await eventsOf(run)).map((e) => e.id)).not.toContain(forged.id);
    });
  });
});
