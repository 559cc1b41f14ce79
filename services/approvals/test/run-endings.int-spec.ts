import type { INestApplication } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import type { Decision, Envelope } from '@warden/contracts';
import { Publisher, makeEnvelope } from '@warden/bus';
import { deriveId, newId, newTraceId } from '@warden/kernel';
import { DATA_SOURCE, IdentityDirectory } from '@warden/runtime';
import { createTestEnv, waitFor, type TestEnv, testPublisher } from '@warden/testing';
import { System } from '../../../test/support/system';
import { ApprovalSweeper } from '../src/approval/approval.sweeper';
import { FakeSlack } from './support/fake-slack';

const ADMIN = 'run-endings-admin-token-0123456789abcdef';

describe('approvals of runs that end first, and dashboard runs never received (real NATS + Postgres)', () => {
  let t: TestEnv;
  let sys: System;
  let slack: FakeSlack;
  let app: INestApplication;
  let publisher: Publisher;
  let url: string;

  beforeAll(async () => {
    t = await createTestEnv();
    slack = new FakeSlack();
    await slack.start();
    sys = new System(t, {
      SLACK_API_URL: slack.apiUrl,
      SLACK_BOT_TOKEN: 'xoxb-test',
      SLACK_SIGNING_SECRET: 'secret',
      SLACK_APPROVALS_CHANNEL: 'C_APPROVALS',
      WARDEN_BOOTSTRAP_ADMIN_TOKEN: ADMIN,
      // the test runs the sweeper itself, so the moment between a cancellation and its closure is observable
      APPROVAL_SWEEP_MS: '60000',
    });
    app = await sys.start('approvals');
    url = sys.url('approvals');
    publisher = testPublisher(t);
  });
  afterAll(async () => {
    await sys?.stopAll();
    await slack?.stop();
    await t?.cleanup();
  });

  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(url + path, {
      method,
      headers: {
        authorization: `Bearer ${ADMIN}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const db = () => app.get<DataSource>(DATA_SOURCE);

  function requested(runId: string): Envelope<'approval_requested'> {
    const traceId = newTraceId();
    const decision: Decision = {
      outcome: 'escalate',
      tier: 2,
      mode: 'enforce',
      rule_ids: ['git-push'],
      reasons: ['pushing needs an approver'],
      constraints: {},
      policy_version: 'test',
      policy_digest: 'sha256:' + 'a'.repeat(64),
      input_hash: 'sha256:' + 'b'.repeat(64),
      trace_id: traceId,
      evaluated_at: new Date().toISOString(),
    };
    return makeEnvelope({
      type: 'approval_requested',
      runId,
      producer: 'orchestrator',
      traceId,
      causationId: deriveId(runId, 'decision'),
      data: {
        approval_id: deriveId(runId, 'approval'),
        tier: 2,
        required_votes: 1,
        expires_at: new Date(Date.now() + 3600_000).toISOString(),
        agent: { id: 'agent-7', role: 'dev' },
        session_id: 'sess-1',
        action: { tool: 'git.push', args: { remote: 'origin', branch: 'main' } },
        decision,
      },
    });
  }

  const inbox = async (id: string) =>
    (
      (await db().query('SELECT status, closed_reason FROM approvals.inbox WHERE id = $1', [id])) as {
        status: string;
        closed_reason: string | null;
      }[]
    )[0];

  it('a cancelled run closes its approval: a vote answers 409 at once, then the approval closes and Slack says why', async () => {
    const created = await call('POST', '/v1/operators', { name: 'alice', roles: ['approver'], max_tier: 3 });
    expect(created.status).toBe(201);
    const { id: aliceId, token } = created.body as { id: string; token: string };
    await waitFor(() => app.get(IdentityDirectory).operator(aliceId), 'alice in the directory');

    const runId = newId();
    const env = requested(runId);
    const approvalId = env.data.approval_id;
    await publisher.publishEvent(env);
    await waitFor(async () => (await inbox(approvalId))?.status === 'pending', 'the pending approval');
    await waitFor(
      () => slack.callsOf('chat.postMessage').some((c) => JSON.stringify(c.args).includes(approvalId)),
      'post',
    );

    await publisher.publishEvent(
      makeEnvelope({
        type: 'run_cancelled',
        runId,
        producer: 'orchestrator',
        traceId: env.trace_id,
        causationId: env.id,
        data: { by: 'operator:bob', reason: 'wrong branch' },
      }),
    );
    await waitFor(
      async () =>
        ((await db().query('SELECT 1 FROM approvals.run_endings WHERE run_id = $1', [runId])) as []).length > 0,
      'the run ending',
    );

    // before any sweep: the vote is refused with a stable code, and nothing is granted
    const vote = await fetch(`${url}/v1/approvals/${approvalId}/approve`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ comment: 'ship it' }),
    });
    expect(vote.status).toBe(409);
    expect(vote.headers.get('content-type')).toContain('application/problem+json');
    expect(await vote.json()).toMatchObject({
      title: 'APPROVAL.ALREADY_DECIDED',
      detail: expect.stringContaining('the run has ended (cancelled)'),
    });
    expect(
      ((await db().query('SELECT * FROM approvals.votes WHERE approval_id = $1', [approvalId])) as []).length,
    ).toBe(0);

    await app.get(ApprovalSweeper).sweep();
    const closed = await inbox(approvalId);
    expect(closed).toEqual({
      status: 'expired',
      closed_reason: 'the run was cancelled (by operator:bob: wrong branch) before a decision',
    });
    const view = await call('GET', `/v1/approvals/${approvalId}`);
    expect(view.body.status).toBe('expired');
    expect((await call('GET', '/v1/approvals?status=pending')).body.items).not.toContainEqual(
      expect.objectContaining({ id: approvalId }),
    );
    const update = await waitFor(
      () => slack.callsOf('chat.update').find((c) => JSON.stringify(c.args.blocks).includes(approvalId)),
      'the Slack update',
    );
    expect(JSON.stringify(update.args.blocks)).toContain('*Closed* without a decision: the run was cancelled');
    // a second sweep changes nothing: one closure
    await app.get(ApprovalSweeper).sweep();
    expect(await inbox(approvalId)).toEqual(closed);
  });

  it('a command refused for a run the dashboard never received opens no run row; a received run still appears', async () => {
    const ghost = newId();
    await publisher.publishEvent(
      makeEnvelope({
        type: 'command_refused',
        runId: ghost,
        producer: 'workers',
        traceId: newTraceId(),
        data: { role: 'dev', worker_id: 'w1', code: 'COMMAND.BAD_SIGNATURE', reason: 'forged' },
      }),
    );
    const real = newId();
    await publisher.publishEvent(
      makeEnvelope({
        type: 'task_received',
        runId: real,
        producer: 'ingest',
        traceId: newTraceId(),
        data: {
          submission: {
            run_id: real,
            agent: { id: 'agent-7', role: 'dev' },
            action: { tool: 'fs.read_file', args: { path: 'a.md' } },
          },
          channel: 'bus',
        },
      }),
    );
    // the later event is in, so the earlier one has been through the projection
    await waitFor(
      async () =>
        ((await db().query('SELECT 1 FROM approvals.dashboard_runs WHERE run_id = $1', [real])) as []).length > 0,
      'the received run',
    );
    expect(await db().query('SELECT * FROM approvals.dashboard_runs WHERE run_id = $1', [ghost])).toEqual([]);
    expect(await db().query('SELECT * FROM approvals.dashboard_events WHERE run_id = $1', [ghost])).toEqual([]);
    const res = await call('GET', '/v1/dashboard/runs?view=active&limit=500');
    const active = res.body.runs as { run_id: string }[];
    expect(active.map((r) => r.run_id)).toContain(real);
    expect(active.map((r) => r.run_id)).not.toContain(ghost);
    expect((await call('GET', `/v1/dashboard/runs/${ghost}`)).status).toBe(404);
  });
});
