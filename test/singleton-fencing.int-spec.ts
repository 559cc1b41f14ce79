import { Client } from 'pg';
import { makeEnvelope } from '@warden/bus';
import type { Decision } from '@warden/contracts';
import { deriveId, newId, newTraceId } from '@warden/kernel';
import { createTestEnv, escalatedDecision, readAll, testPublisher, waitFor, type TestEnv } from '@warden/testing';
import { Replicas } from './support/replicas';

const APPROVALS = 150; // one sweep pass (it takes up to 200)
const SWEEP_MS = 500; // the lease lasts 3 sweeps: 1.5 s
const LEADER = 'warden_duty_leader';
const TOKEN = 'warden_duty_fencing_token';
const FENCED = 'warden_duty_fenced_writes_total';
const DUTY = 'duty="approval-sweeper"';

const decision = (traceId: string): Decision => escalatedDecision(traceId);

/**
 * The approval sweeper is a singleton duty on two approvals replicas. Its leader is paused (SIGSTOP)
 * in the middle of expiring a few hundred approvals, past its lease; the other replica takes over
 * (a higher fencing token) and finishes the work; the old leader is resumed (SIGCONT) and carries
 * on with its stale list — and every write it tries is refused at the write. Each approval closes
 * exactly once.
 */
describe('singleton duties: a deposed sweeper resumed after SIGSTOP has its late writes refused', () => {
  let t: TestEnv;
  let replicas: Replicas;
  let db: Client;

  beforeAll(async () => {
    t = await createTestEnv();
    replicas = new Replicas(
      {
        ...process.env,
        ...t.env,
        APPROVAL_SWEEP_MS: String(SWEEP_MS),
        APPROVAL_ESCALATION_FRACTION: '1',
        LOG_LEVEL: process.env.FENCE_LOG_LEVEL ?? 'warn',
      },
      23000 + Math.floor(Math.random() * 400) * 10,
    );
    db = new Client({ connectionString: t.databaseUrl });
    await db.connect();
    await replicas.start('approvals', 1);
    await replicas.start('approvals', 2);
  }, 120_000);
  afterAll(async () => {
    await replicas?.stopAll();
    await db?.end();
    await t?.cleanup();
  });

  const count = async (status: string) =>
    Number(
      (await db.query<{ n: string }>('SELECT count(*) AS n FROM approvals.inbox WHERE status = $1', [status])).rows[0]!
        .n,
    );

  it('refuses the old leader at the write; the new leader works; every approval closes once', async () => {
    const leaderOf = async () => {
      for (const name of ['approvals-1', 'approvals-2'])
        if ((await replicas.metric(name, LEADER, DUTY)) === 1)
          return { name, token: await replicas.metric(name, TOKEN, DUTY) };
      return undefined;
    };
    await waitFor(leaderOf, 'a sweeper leader', 10_000);

    // approvals that all fall due together, a few seconds from now
    const expiresAt = new Date(Date.now() + 20_000).toISOString();
    const publisher = testPublisher(t);
    const ids: string[] = [];
    const envs = [];
    for (let i = 0; i < APPROVALS; i++) {
      const runId = newId();
      const traceId = newTraceId();
      const approvalId = deriveId(runId, 'approval');
      ids.push(approvalId);
      envs.push(
        makeEnvelope({
          type: 'approval_requested',
          runId,
          producer: 'orchestrator',
          traceId,
          data: {
            approval_id: approvalId,
            tier: 2,
            required_votes: 1,
            expires_at: expiresAt,
            agent: { id: 'fence-agent', role: 'dev' },
            action: { tool: 'deploy.production', args: { service: `svc-${i}` } },
            decision: decision(traceId),
          },
        }),
      );
    }
    for (let i = 0; i < envs.length; i += 100) await publisher.publishEvents(envs.slice(i, i + 100));
    let pending = 0;
    await waitFor(
      async () => (pending = await count('pending')) === APPROVALS,
      'every approval pending',
      20_000,
      50,
    ).catch(async (err: Error) => {
      throw new Error(`${err.message} (${pending} are)`);
    });
    expect(Date.now()).toBeLessThan(Date.parse(expiresAt));

    // the leader starts expiring them: pause it mid-pass
    const closed = async () =>
      Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM approvals.approval_closures')).rows[0]!.n);
    await waitFor(async () => (await closed()) >= 5, 'the leader to start expiring', 30_000, 5);
    // freeze both at once, then resume the one that does not hold the lease (its holder names its pid)
    replicas.pause('approvals-1');
    replicas.pause('approvals-2');
    const held = (await db.query('SELECT holder, token::int AS token FROM approvals.duty_leases')).rows as {
      holder: string;
      token: number;
    }[];
    const pid = Number(held[0]!.holder.split(':')[1]);
    const old = ['approvals-1', 'approvals-2'].find((n) => replicas.get(n).child.pid === pid)!;
    const successor = old === 'approvals-1' ? 'approvals-2' : 'approvals-1';
    const oldToken = held[0]!.token;
    replicas.resume(successor);
    const expiredByOld = await closed();
    // paused in the middle of its pass: it holds a list of approvals it has not closed yet
    expect(expiredByOld).toBeLessThan(APPROVALS);

    // past its lease: the other replica takes over with a higher token and finishes the work
    await waitFor(async () => (await closed()) === APPROVALS, 'the successor to expire the rest', 30_000);
    expect(await replicas.metric(successor, LEADER, DUTY)).toBe(1);
    const newToken = await replicas.metric(successor, TOKEN, DUTY);
    expect(newToken).toBeGreaterThan(oldToken);
    const lease = (await db.query('SELECT token::int AS token FROM approvals.duty_leases')).rows as { token: number }[];
    expect(lease).toEqual([{ token: newToken }]);

    // resumed: the old leader carries on with what it had read — and is refused at the write
    replicas.resume(old);
    // (its write is refused by the fence check, or — if it stalled inside the write's transaction —
    // Postgres cut that transaction off when the lease ran out; either way it is counted as refused)
    const refusals = () => replicas.metric(old, FENCED, DUTY);
    try {
      await waitFor(async () => (await refusals()) > 0, 'the old leader to be refused', 15_000);
    } catch (err) {
      const fenced = await replicas.metric(old, FENCED, DUTY).catch((e: Error) => e.message);
      const log = replicas.logs.get(old)!.join('').slice(-6000);
      throw new Error(
        `${(err as Error).message}; closed before the pause: ${expiredByOld}; fenced ${fenced}; log:\n${log}`,
      );
    }
    await waitFor(
      () => replicas.logs.get(old)!.join('').includes('deposed sweeper: its write was refused'),
      'the old leader to log the refusal',
      5000,
    );
    await new Promise((r) => setTimeout(r, 2 * SWEEP_MS * 3));
    expect(await replicas.metric(old, LEADER, DUTY)).toBe(0);
    expect(await replicas.metric(successor, LEADER, DUTY)).toBe(1);
    expect((await db.query('SELECT token::int AS token FROM approvals.duty_leases')).rows).toEqual([
      { token: newToken },
    ]);

    // no duplicate effect: one closure event per approval, and each closed once in the inbox
    const closures = (await readAll(t.bus, t.subjects.streams.events, t.subjects.runEvents))
      .map((m) => m.json() as { id: string; type: string; data: { approval_id: string } })
      .filter((e) => ['approval_expired', 'approval_granted', 'approval_rejected'].includes(e.type));
    const byApproval = new Map<string, string[]>();
    for (const e of closures)
      byApproval.set(e.data.approval_id, [...(byApproval.get(e.data.approval_id) ?? []), e.type]);
    for (const id of ids) expect({ id, closures: byApproval.get(id) }).toEqual({ id, closures: ['approval_expired'] });
    expect(await count('expired')).toBe(APPROVALS);
  }, 180_000);
});
