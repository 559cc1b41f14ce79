import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApprovalRefusedError, RunDeniedError, type Grant, type WardenClientOptions } from '@warden/client';
import { makeEnvelope } from '@warden/bus';
import type { AnyEnvelope } from '@warden/contracts';
import { deriveId, newId, sha256Canonical } from '@warden/kernel';
import { createTestEnv, forgeAs, readAll, testPublisher, waitFor, type TestEnv } from '@warden/testing';
import { httpClient } from './support/client';
import { AdminApi } from './support/admin-api';
import { System } from './support/system';

const ADMIN = 'byo-admin-token-0123456789abcdef';
/** Short, so that an unreported grant's deadline passes within the test. */
const GRANT_TTL_SECONDS = 4;

type RunView = {
  status: string;
  result: { output?: unknown; output_hash: string; error?: { code: string }; outcome_unknown?: boolean } | null;
  events: AnyEnvelope[];
  ignored_events: { id: string; type: string; reason: string }[];
};

describe('bring your own executor: Warden decides and approves, the client executes on a single-use signed grant', () => {
  let t: TestEnv;
  let sys: System;
  let api: AdminApi;
  let key: string;
  let otherKey: string;
  let approver: string;
  const admin = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
  const agent = { id: 'agent-byo', role: 'dev' };

  const client = (opts: Partial<WardenClientOptions> = {}) =>
    httpClient(sys, { apiKey: key, agent, retry: { attempts: 3, baseDelayMs: 50, maxDelayMs: 300 }, ...opts });

  async function getRun(runId: string): Promise<RunView> {
    const r = await fetch(`${sys.url('orchestrator')}/v1/runs/${runId}`, { headers: admin });
    expect(r.status).toBe(200);
    return (await r.json()) as RunView;
  }

  async function approve(runId: string): Promise<void> {
    expect(await api.vote(await api.pendingApprovalOf(runId), approver, 'approve', 'go ahead')).toBe(200);
  }

  /** A raw report (what a client that does not use @warden/client sends). */
  const postReport = (g: Grant, over: Record<string, unknown> = {}, apiKey = key) =>
    fetch(`${sys.url('ingest')}/v1/runs/${g.grant.run_id}/execution`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        grant: g.grant,
        signature: g.signature,
        action_hash: g.grant.action_hash,
        outcome: { output: { ok: 1 }, output_hash: sha256Canonical({ ok: 1 }) },
        ...over,
      }),
    });

  const types = (v: RunView) => v.events.map((e) => e.type);

  beforeAll(async () => {
    t = await createTestEnv();
    sys = new System(t, {
      WARDEN_WORKSPACE: mkdtempSync(join(tmpdir(), 'warden-byo-')),
      WARDEN_BOOTSTRAP_ADMIN_TOKEN: ADMIN,
      CLIENT_GRANT_TTL_SECONDS: String(GRANT_TTL_SECONDS),
      CLIENT_GRANT_SWEEP_MS: '200',
    });
    api = new AdminApi(sys, ADMIN);
    await sys.startAll();
    key = await api.createKey({ name: `byo-${newId()}`, owner: 'byo-test', agent });
    otherKey = await api.createKey({
      name: `byo-${newId()}`,
      owner: 'byo-test',
      agent: { id: 'agent-byo-other', role: 'dev' },
    });
    approver = await api.createApprover('alice-byo');
  });
  afterAll(async () => {
    await sys?.stopAll();
    await t?.cleanup();
  });

  it('allowed: guard runs the function once on the grant; the run succeeds with its output hash in the timeline and the audit chain', async () => {
    let calls = 0;
    const status = client().guard('git.status', async (args: { short?: boolean }) => {
      calls++;
      return { clean: true, short: args.short ?? false };
    });
    const out = await status({ short: true }, { intent: 'look at the tree', session: 'byo-s1' });
    expect(out).toEqual({ clean: true, short: true });
    expect(calls).toBe(1);
    const runs = (await (
      await fetch(`${sys.url('orchestrator')}/v1/runs?session_id=byo-s1`, { headers: admin })
    ).json()) as { runs: { run_id: string }[] };
    const view = await getRun(runs.runs[0]!.run_id);
    expect(view.status).toBe('succeeded');
    expect(view.result).toMatchObject({ output: out, output_hash: sha256Canonical(out) });
    expect(types(view)).toEqual([
      'task_received',
      'decision_made',
      'execution_granted',
      'execution_reported',
      'execution_succeeded',
    ]);
    // never dispatched to a worker
    expect(types(view)).not.toContain('run_queued');
    const audit = await waitFor(async () => {
      const r = await fetch(`${sys.url('orchestrator')}/v1/audit/export`, { headers: admin });
      const lines = (await r.text())
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { kind: string; run_id?: string; type?: string });
      const mine = lines.filter((l) => l.kind === 'record' && l.run_id === runs.runs[0]!.run_id).map((l) => l.type);
      return mine.includes('execution_succeeded') ? mine : undefined;
    }, 'the audit chain to record the settlement');
    expect(audit).toEqual(['decision_made', 'execution_granted', 'execution_reported', 'execution_succeeded']);
  });

  it('escalated: the grant comes only after an approver approves over REST; then guard runs the function', async () => {
    let calls = 0;
    const push = client().guard('git.push', async () => {
      calls++;
      return { pushed: 'feature/x' };
    });
    const session = `byo-${newId()}`;
    const pushing = push({ branch: 'feature/x' }, { session });
    const runId = await waitFor(async () => {
      const r = await fetch(`${sys.url('orchestrator')}/v1/runs?session_id=${session}`, { headers: admin });
      const run = ((await r.json()) as { runs: { run_id: string; status: string }[] }).runs[0];
      return run?.status === 'awaiting_approval' ? run.run_id : undefined;
    }, 'the run to await approval');
    expect(calls).toBe(0);
    await approve(runId);
    await expect(pushing).resolves.toEqual({ pushed: 'feature/x' });
    expect(calls).toBe(1);
    const view = await getRun(runId);
    expect(view.status).toBe('succeeded');
    const granted = view.events.find((e) => e.type === 'execution_granted') as AnyEnvelope & {
      data: { grant: { approval_id?: string } };
    };
    // the grant names the approval that let it out: the one granted in this run's log
    const approvalGranted = view.events.find((e) => e.type === 'approval_granted') as AnyEnvelope & {
      data: { approval_id: string };
    };
    expect(approvalGranted.data.approval_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(granted.data.grant.approval_id).toBe(approvalGranted.data.approval_id);
  });

  it('a guard call repeated with the same idempotency key never runs the function twice: it answers with the first output', async () => {
    let calls = 0;
    const status = client().guard('git.status', async () => ({ n: ++calls }));
    const key = `retry-${newId()}`;
    expect(await status({}, { idempotencyKey: key })).toEqual({ n: 1 });
    // a new process, the same call retried (e.g. after a crash between the answer and its use)
    const again = client().guard('git.status', async () => ({ n: ++calls }));
    expect(await again({}, { idempotencyKey: key })).toEqual({ n: 1 });
    expect(calls).toBe(1);
  });

  it('a rejected approval throws ApprovalRefusedError and the function never runs', async () => {
    let calls = 0;
    const push = client().guard('git.push', async () => calls++);
    const session = `byo-${newId()}`;
    const pushing = push({ branch: 'feature/y' }, { session }).catch((e: unknown) => e);
    const runId = await waitFor(async () => {
      const r = await fetch(`${sys.url('orchestrator')}/v1/runs?session_id=${session}`, { headers: admin });
      const run = ((await r.json()) as { runs: { run_id: string; status: string }[] }).runs[0];
      return run?.status === 'awaiting_approval' ? run.run_id : undefined;
    }, 'the run to await approval');
    await api.vote(await api.pendingApprovalOf(runId), approver, 'reject', 'not today');
    const err = await pushing;
    expect(err).toBeInstanceOf(ApprovalRefusedError);
    expect((err as ApprovalRefusedError).code).toBe('RUN.REJECTED');
    expect(calls).toBe(0);
  });

  it('default deny: a tool whose decision carries a worker-enforced constraint (fs paths) is never granted to a client', async () => {
    let calls = 0;
    const write = client().guard('fs.write_file', async () => calls++);
    const err = await write({ path: 'notes/a.md', content: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunDeniedError);
    expect((err as RunDeniedError).run.decision?.outcome).toBe('allow');
    expect((err as RunDeniedError).reasons.join(' ')).toMatch(/resolved_paths/);
    expect((err as RunDeniedError).denial?.rule_ids).toEqual(['orchestrator.client-executor']);
    expect(calls).toBe(0);
  });

  it('a grant is single-use: a second report is refused (409) and the run is settled once', async () => {
    const run = await client().propose({ tool: 'git.status', executor: 'client' });
    const grant = await run.grant();
    await client().report(grant, { output: { first: true } });
    const second = await postReport(grant, {
      outcome: { output: { second: true }, output_hash: sha256Canonical({ second: true }) },
    });
    expect(second.status).toBe(409);
    expect(((await second.json()) as { title: string }).title).toBe('GRANT.ALREADY_USED');
    const outcome = await run.outcome();
    expect(outcome.status).toBe('succeeded');
    expect(outcome.result?.output).toEqual({ first: true });
    expect(types(await getRun(run.id)).filter((x) => x.startsWith('execution_'))).toEqual([
      'execution_granted',
      'execution_reported',
      'execution_succeeded',
    ]);
  });

  it("a report for another action hash, a tampered grant, another agent's key, a bad output hash: refused, nothing recorded", async () => {
    const run = await client().propose({ tool: 'git.status', executor: 'client' });
    const grant = await run.grant();
    const otherHash = sha256Canonical({ tool: 'git.push', args: { branch: 'main' } });
    const mismatch = await postReport(grant, { action_hash: otherHash });
    expect(mismatch.status).toBe(409);
    expect(await mismatch.json()).toMatchObject({ title: 'GRANT.ACTION_MISMATCH', errors: [{ path: 'action_hash' }] });
    // the grant rewritten for another action no longer carries the orchestrator's signature
    const tamperedAction = { tool: 'git.push', args: { branch: 'main' } };
    const tampered = await postReport(
      { ...grant, grant: { ...grant.grant, action: tamperedAction, action_hash: sha256Canonical(tamperedAction) } },
      { action_hash: sha256Canonical(tamperedAction) },
    );
    expect(tampered.status).toBe(403);
    expect(((await tampered.json()) as { title: string }).title).toBe('GRANT.BAD_SIGNATURE');
    const otherAgent = await postReport(grant, {}, otherKey);
    expect(otherAgent.status).toBe(403);
    expect(((await otherAgent.json()) as { title: string }).title).toBe('KEY.AGENT_MISMATCH');
    const badHash = await postReport(grant, {
      outcome: { output: { ok: 2 }, output_hash: sha256Canonical({ ok: 1 }) },
    });
    expect(badHash.status).toBe(400);
    expect(await badHash.json()).toMatchObject({ errors: [{ path: 'outcome.output_hash' }] });
    // none of them used the grant: the genuine report still settles the run
    await client().report(grant, { output: { ok: 1 } });
    expect((await run.outcome()).status).toBe('succeeded');
    const view = await getRun(run.id);
    expect(types(view).filter((x) => x === 'execution_reported')).toHaveLength(1);
  });

  it('an unreported grant ends the run failed with outcome_unknown after its deadline; a late report is refused (410)', async () => {
    const run = await client().propose({ tool: 'git.status', executor: 'client' });
    const grant = await run.grant();
    const outcome = await run.outcome();
    expect(outcome.status).toBe('failed');
    expect(outcome.result).toMatchObject({ outcome_unknown: true, error: { code: 'GRANT.EXPIRED' } });
    // it took the deadline, not less
    const failedAt = Date.parse(outcome.run.updated_at);
    expect(failedAt).toBeGreaterThanOrEqual(Date.parse(grant.grant.expires_at));
    const late = await postReport(grant);
    expect(late.status).toBe(410);
    expect(((await late.json()) as { title: string }).title).toBe('GRANT.EXPIRED');
  }, 30_000);

  it('forged execution_granted and execution_reported on the bus change nothing; a replayed genuine report settles nothing twice', async () => {
    const publisher = testPublisher(t);
    // a forged grant for a run waiting for its approver
    const session = `byo-${newId()}`;
    const waiting = await client().propose({
      tool: 'git.push',
      args: { branch: 'feature/z' },
      executor: 'client',
      session,
    });
    await waitFor(async () => (await getRun(waiting.id)).status === 'awaiting_approval', 'the approval wait');
    const view = await getRun(waiting.id);
    const action = { tool: 'git.push', args: { branch: 'feature/z' } };
    const fakeGrant = {
      grant_id: newId(),
      run_id: waiting.id,
      agent,
      action,
      action_hash: sha256Canonical(action),
      policy_digest: (view.events[1] as AnyEnvelope & { data: { policy_digest: string } }).data.policy_digest,
      issued_at: new Date().toISOString(),
      expires_at: new Date(Date.now() + 60_000).toISOString(),
    };
    await publisher.publishEvent(
      forgeAs(
        makeEnvelope({
          type: 'execution_granted',
          runId: waiting.id,
          producer: 'orchestrator',
          traceId: view.events[0]!.trace_id,
          data: { grant: fakeGrant, signature: 'ed25519:AAAA' },
        }),
      ),
    );
    // ingest refuses a report on it, whatever the bus says
    const onForged = await postReport({ grant: fakeGrant, signature: 'ed25519:AAAA' });
    expect(onForged.status).toBe(403);

    // a genuine grant, a forged report for it
    const run = await client().propose({ tool: 'git.status', executor: 'client' });
    const grant = await run.grant();
    const forgedReport = forgeAs(
      makeEnvelope({
        type: 'execution_reported',
        runId: run.id,
        producer: 'ingest',
        traceId: view.events[0]!.trace_id,
        data: {
          grant_id: grant.grant.grant_id,
          action_hash: grant.grant.action_hash,
          outcome: { output: 'forged', output_hash: sha256Canonical('forged') },
          reported_by: { kind: 'api_key', id: 'mallory' },
        },
      }),
    );
    await publisher.publishEvent(forgedReport);
    await client().report(grant, { output: 'genuine' });
    const outcome = await run.outcome();
    expect(outcome).toMatchObject({ status: 'succeeded', result: { output: 'genuine' } });

    // the genuine report, replayed byte for byte under another broker id: the event id is the same
    const reports = await readAll(t.bus, t.subjects.streams.events, t.subjects.event(run.id, 'execution_reported'));
    const genuine = reports
      .map((m) => m.json() as AnyEnvelope)
      .find((e) => e.id === deriveId(grant.grant.grant_id, 'reported'));
    expect(genuine?.producer).toBe('ingest');
    const replay = await t.bus.js.publish(t.subjects.event(run.id, 'execution_reported'), JSON.stringify(genuine), {
      msgID: `replay-${newId()}`,
    });
    expect(replay.duplicate).toBe(false); // the broker took it: only the orchestrator's fold stops it
    // and a second genuine-looking report under a fresh id is a forgery (only ingest signs)
    await publisher.publishEvent(forgeAs({ ...forgedReport, id: deriveId(newId(), 'again') }));
    await new Promise((r) => setTimeout(r, 1000));

    expect((await getRun(waiting.id)).status).toBe('awaiting_approval');
    expect(types(await getRun(waiting.id))).not.toContain('execution_granted');
    const settled = await getRun(run.id);
    expect(settled.status).toBe('succeeded');
    expect(settled.result?.output).toBe('genuine');
    expect(types(settled).filter((x) => x === 'execution_succeeded')).toHaveLength(1);
    expect(types(settled).filter((x) => x === 'execution_reported')).toHaveLength(1);
  }, 30_000);
});
