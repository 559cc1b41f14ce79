import type { INestApplication } from '@nestjs/common';
import type { Subscription } from '@nats-io/nats-core';
import type { Decision } from '@warden/contracts';
import { Publisher, makeEnvelope } from '@warden/bus';
import { deriveId, newId, newTraceId, sha256Canonical } from '@warden/kernel';
import { rebuildService, startService } from '@warden/runtime';
import { openDataSource } from '@warden/persistence';
import { rebuildTarget } from '../src/projections';
import { createTestEnv, readAll, waitFor, type TestEnv, testPublisher, forgeAs } from '@warden/testing';
import { AppModule } from '../src/app.module';
import { loadConfig } from '../src/config';

const ADMIN = 'approvals-test-admin-token-0123456789';

/**
 * What the policy service answers on `warden.policy.evaluate` in these tests: the engine's behaviour
 * when the active bundle escalates, now denies, refuses, or does not answer at all.
 */
type PolicyMode = 'escalate' | 'deny' | 'tier3' | 'problem' | 'silent';

describe('approvals engine: voting, binding, expiry, operators, standing approvals, reviews', () => {
  let t: TestEnv;
  let app: INestApplication;
  let url: string;
  let publisher: Publisher;
  let policy: Subscription;
  let policyMode: PolicyMode = 'escalate';
  const policyRequests: unknown[] = [];

  const decision = (traceId: string, over: Partial<Decision> = {}): Decision => ({
    outcome: 'escalate',
    tier: 2,
    mode: 'enforce',
    rule_ids: ['push'],
    reasons: ['pushes need an approver'],
    constraints: {},
    policy_version: 'v1',
    policy_digest: 'sha256:' + 'a'.repeat(64),
    input_hash: 'sha256:' + 'b'.repeat(64),
    trace_id: traceId,
    evaluated_at: new Date().toISOString(),
    ...over,
  });

  beforeAll(async () => {
    t = await createTestEnv();
    publisher = testPublisher(t);
    policy = t.bus.nc.subscribe(t.subjects.policyEvaluate, {
      callback: (_err, msg) => void answer(msg),
    });
    function answer(msg: { json(): unknown; respond(data: string): boolean }): boolean | undefined {
      policyRequests.push(msg.json());
      const traceId = newTraceId();
      switch (policyMode) {
        case 'silent':
          return;
        case 'problem':
          return msg.respond(
            JSON.stringify({ type: 'about:blank', title: 'Bad Request', status: 400, detail: 'tool unknown now' }),
          );
        case 'deny':
          return msg.respond(
            JSON.stringify(
              decision(traceId, { outcome: 'deny', reasons: ['pushes are frozen'], rule_ids: ['freeze'] }),
            ),
          );
        case 'tier3':
          return msg.respond(JSON.stringify(decision(traceId, { tier: 3 })));
        default:
          return msg.respond(JSON.stringify(decision(traceId)));
      }
    }
    app = await startService(
      AppModule.forRoot(
        loadConfig({
          ...process.env,
          ...t.env,
          APPROVALS_PORT: '0',
          WARDEN_BOOTSTRAP_ADMIN_TOKEN: ADMIN,
          APPROVAL_SWEEP_MS: '100',
          POLICY_RECHECK_TIMEOUT_MS: '250',
          POLICY_RECHECK_ATTEMPTS: '2',
        }),
      ),
      { service: 'approvals', port: 0, host: '127.0.0.1' },
    );
    url = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
  });
  afterAll(async () => {
    policy?.unsubscribe();
    await app?.close();
    await t?.cleanup();
  });
  beforeEach(() => {
    policyMode = 'escalate';
  });

  const call = async (method: string, path: string, token: string | null, body?: unknown) => {
    const res = await fetch(url + path, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return {
      status: res.status,
      type: res.headers.get('content-type') ?? '',
      body: (text ? JSON.parse(text) : undefined) as Record<string, any>, // eslint-disable-line @typescript-eslint/no-explicit-any
    };
  };

  async function operator(name: string, roles: string[], maxTier: number): Promise<{ id: string; token: string }> {
    const r = await call('POST', '/v1/operators', ADMIN, { name, roles, max_tier: maxTier });
    expect(r.status).toBe(201);
    const created = r.body as { id: string; token: string };
    expect(created.token).toMatch(/^wop_/);
    await waitFor(async () => (await call('GET', '/v1/approvals?limit=1', created.token)).status === 200, `${name}`);
    return created;
  }

  async function requestApproval(
    over: { tier?: 2 | 3; requiredVotes?: number; agentId?: string; sessionId?: string; expiresInMs?: number } = {},
  ) {
    const runId = newId();
    const traceId = newTraceId();
    const approvalId = deriveId(runId, 'approval');
    const tier = over.tier ?? 2;
    const action = { tool: 'git.push', args: { remote: 'origin', branch: `b-${runId.slice(0, 6)}` } };
    await publisher.publishEvent(
      makeEnvelope({
        type: 'approval_requested',
        runId,
        producer: 'orchestrator',
        traceId,
        data: {
          approval_id: approvalId,
          tier,
          required_votes: over.requiredVotes ?? (tier === 3 ? 2 : 1),
          expires_at: new Date(Date.now() + (over.expiresInMs ?? 3600_000)).toISOString(),
          agent: { id: over.agentId ?? 'agent-7', role: 'dev' },
          ...(over.sessionId ? { session_id: over.sessionId } : {}),
          action,
          decision: decision(traceId, { tier }),
          action_hash: sha256Canonical(action),
        },
      }),
    );
    await waitFor(async () => (await call('GET', `/v1/approvals/${approvalId}`, ADMIN)).status === 200, 'the row');
    return { runId, traceId, approvalId, action };
  }

  const events = async (runId: string, type: string) =>
    (await readAll(t.bus, t.subjects.streams.events, t.subjects.event(runId, type))).map(
      (m) => m.json() as { id: string; type: string; data: Record<string, unknown> },
    );
  const approve = (id: string, token: string, body: unknown = {}) =>
    call('POST', `/v1/approvals/${id}/approve`, token, body);
  const reject = (id: string, token: string, body: unknown = {}) =>
    call('POST', `/v1/approvals/${id}/reject`, token, body);

  let alice: { id: string; token: string };
  let bob: { id: string; token: string };
  let carol: { id: string; token: string };
  let tier2: { id: string; token: string };
  let viewer: { id: string; token: string };
  beforeAll(async () => {
    alice = await operator('alice', ['approver'], 3);
    bob = await operator('bob', ['approver'], 3);
    carol = await operator('carol', ['admin'], 3);
    tier2 = await operator('tier2-only', ['approver'], 2);
    viewer = await operator('vera', ['viewer'], 3);
  });

  it('forged votes, closures and a forged approval request change nothing in the inbox', async () => {
    const a = await requestApproval({ tier: 3 });
    const fake = (type: 'approval_vote' | 'approval_granted' | 'approval_rejected', data: Record<string, unknown>) =>
      forgeAs(makeEnvelope({ type, runId: a.runId, producer: 'approvals', traceId: a.traceId, data: data as never }));
    const forged = [
      fake('approval_vote', {
        approval_id: a.approvalId,
        operator: 'nobody-a',
        operator_id: 'nobody-a',
        vote: 'approve',
      }),
      fake('approval_granted', {
        approval_id: a.approvalId,
        operators: ['nobody-a', 'nobody-b'],
        action_hash: sha256Canonical(a.action),
        policy_digest: 'sha256:' + 'a'.repeat(64),
        tier: 3,
      }),
      fake('approval_rejected', { approval_id: a.approvalId, operators: ['nobody-a'] }),
    ];
    // and an approval request nobody's orchestrator made, for a run that does not exist
    const ghostRun = newId();
    const ghost = forgeAs(
      makeEnvelope({
        type: 'approval_requested',
        runId: ghostRun,
        producer: 'orchestrator',
        traceId: a.traceId,
        data: {
          approval_id: deriveId(ghostRun, 'approval'),
          tier: 1,
          required_votes: 1,
          expires_at: new Date(Date.now() + 3600_000).toISOString(),
          agent: { id: 'agent-7', role: 'dev' },
          action: a.action,
          decision: decision(a.traceId, { tier: 1 }),
        },
      }),
    );
    for (const e of [...forged, ghost]) {
      await t.bus.js.publish(t.subjects.event(e.run_id!, e.type), JSON.stringify(e), { msgID: e.id });
    }
    // a genuine request published after them is in the inbox, so they have been read by then
    const after = await requestApproval();
    expect((await call('GET', `/v1/approvals/${after.approvalId}`, ADMIN)).body).toMatchObject({ status: 'pending' });
    const view = (await call('GET', `/v1/approvals/${a.approvalId}`, ADMIN)).body as {
      status: string;
      votes: unknown[];
    };
    expect(view).toMatchObject({ status: 'pending', votes: [] });
    expect((await call('GET', `/v1/approvals/${deriveId(ghostRun, 'approval')}`, ADMIN)).status).toBe(404);
    // the real approvers can still decide it
    expect((await approve(a.approvalId, alice.token)).status).toBe(200);
  });

  it('grants a tier 2 approval with one approver, bound to the action hash, policy digest and tier; then 409', async () => {
    const a = await requestApproval();
    const r = await approve(a.approvalId, alice.token, { comment: 'ship it' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      id: a.approvalId,
      run_id: a.runId,
      status: 'granted',
      tier: 2,
      required_votes: 1,
      votes: [
        {
          operator: 'alice',
          operator_id: alice.id,
          vote: 'approve',
          comment: 'ship it',
          channel: 'rest',
          at: expect.any(String),
        },
      ],
      action_hash: sha256Canonical(a.action),
      reasons: ['pushes need an approver'],
    });
    const granted = await events(a.runId, 'approval_granted');
    expect(granted).toHaveLength(1);
    expect(granted[0]!.data).toEqual({
      approval_id: a.approvalId,
      operators: ['alice'],
      action_hash: sha256Canonical(a.action),
      policy_digest: 'sha256:' + 'a'.repeat(64),
      tier: 2,
      channel: 'rest',
      // the vote it counts, by its event id: the orchestrator checks the quorum against the signed vote
      votes: [{ vote_id: expect.any(String), operator_id: alice.id, operator: 'alice' }],
    });
    const votes = await events(a.runId, 'approval_vote');
    expect(votes.map((e) => e.data)).toEqual([
      expect.objectContaining({ operator: 'alice', operator_id: alice.id, vote: 'approve', channel: 'rest' }),
    ]);
    expect((granted[0]!.data as { votes: { vote_id: string }[] }).votes[0]!.vote_id).toBe(votes[0]!.id);
    // the re-check asked the policy about the original proposal, run id included
    expect(policyRequests).toContainEqual(expect.objectContaining({ run_id: a.runId, action: a.action }));
    const again = await approve(a.approvalId, bob.token);
    expect(again.status).toBe(409);
    expect(again.type).toContain('application/problem+json');
    expect(again.body.title).toBe('APPROVAL.ALREADY_DECIDED');
  });

  it('needs two distinct approvers for tier 3; a second vote by the same operator is 409 and counts once', async () => {
    const a = await requestApproval({ tier: 3 });
    const first = await approve(a.approvalId, alice.token);
    expect(first.body).toMatchObject({ status: 'pending', votes: [{ operator: 'alice' }] });
    const twice = await approve(a.approvalId, alice.token);
    expect(twice.status).toBe(409);
    expect(twice.body.title).toBe('APPROVAL.ALREADY_VOTED');
    expect((await call('GET', `/v1/approvals/${a.approvalId}`, viewer.token)).body.status).toBe('pending');
    const second = await approve(a.approvalId, bob.token);
    expect(second.body).toMatchObject({ status: 'granted' });
    expect((await events(a.runId, 'approval_granted'))[0]!.data.operators).toEqual(['alice', 'bob']);
  });

  it('honours a per-decision required_votes override', async () => {
    const a = await requestApproval({ tier: 2, requiredVotes: 2 });
    expect((await approve(a.approvalId, alice.token)).body.status).toBe('pending');
    expect((await approve(a.approvalId, bob.token)).body.status).toBe('granted');
  });

  it('refuses votes from viewers, API-less callers, too-low max_tier and the requesting agent itself', async () => {
    const a = await requestApproval({ tier: 3, agentId: 'carol' });
    expect((await approve(a.approvalId, viewer.token)).status).toBe(403);
    expect((await approve(a.approvalId, 'not-a-token-not-a-token')).status).toBe(401);
    expect((await approve(a.approvalId, '')).status).toBe(401);
    const low = await approve(a.approvalId, tier2.token);
    expect(low.status).toBe(403);
    expect(low.body.detail).toContain('max_tier 2');
    const self = await approve(a.approvalId, carol.token);
    expect(self.status).toBe(403);
    expect(self.body.detail).toContain('requesting agent');
    expect((await approve(newId(), alice.token)).status).toBe(404);
    expect((await approve('not-a-uuid', alice.token)).status).toBe(404);
    // the operator comes from the token only: a body naming one is refused, with the field path
    const smuggled = await approve(a.approvalId, alice.token, { operator: 'carol' });
    expect(smuggled.status).toBe(400);
    expect(smuggled.body.errors).toEqual([{ path: 'operator', message: 'unknown field' }]);
    const bad = await approve(a.approvalId, alice.token, {
      comment: 5,
      standing: { scope: 'forever', ttl_seconds: 1 },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['comment', 'standing.scope']);
    expect(await events(a.runId, 'approval_vote')).toEqual([]);
    expect((await call('GET', `/v1/approvals/${a.approvalId}`, ADMIN)).body.votes).toEqual([]);
  });

  it('resolves parallel votes by optimistic concurrency: never double-counted, never two closures', async () => {
    const ops = [alice, bob, carol, await operator('dave', ['approver'], 3), await operator('erin', ['approver'], 3)];
    for (let round = 0; round < 3; round++) {
      const a = await requestApproval({ tier: 3, requiredVotes: 2 });
      const results = await Promise.all(ops.map((o) => approve(a.approvalId, o.token)));
      const statuses = results.map((r) => r.status);
      expect(statuses.every((s) => s === 200 || s === 409)).toBe(true);
      const votes = await events(a.runId, 'approval_vote');
      expect(votes).toHaveLength(statuses.filter((s) => s === 200).length);
      expect(new Set(votes.map((v) => v.data.operator_id)).size).toBe(votes.length);
      await waitFor(async () => (await events(a.runId, 'approval_granted')).length === 1, 'the grant');
      const closures = [
        ...(await events(a.runId, 'approval_granted')),
        ...(await events(a.runId, 'approval_rejected')),
        ...(await events(a.runId, 'approval_expired')),
      ];
      expect(closures).toHaveLength(1);
      const view = (await call('GET', `/v1/approvals/${a.approvalId}`, ADMIN)).body;
      expect(view.votes).toHaveLength(votes.length);
      expect(closures[0]!.data.operators).toHaveLength(2);
    }
    // one operator firing the same vote five times at once: one vote
    const b = await requestApproval({ tier: 3 });
    const same = await Promise.all(Array.from({ length: 5 }, () => approve(b.approvalId, alice.token)));
    expect(same.filter((r) => r.status === 200)).toHaveLength(1);
    expect(same.filter((r) => r.status === 409).map((r) => r.body.title)).toEqual(
      Array(4).fill('APPROVAL.ALREADY_VOTED'),
    );
    expect(await events(b.runId, 'approval_vote')).toHaveLength(1);
  });

  it('rejects with one reject vote and the reason', async () => {
    const a = await requestApproval({ tier: 3 });
    const r = await reject(a.approvalId, bob.token, { reason: 'not today' });
    expect(r.body).toMatchObject({
      status: 'rejected',
      votes: [{ operator: 'bob', vote: 'reject', comment: 'not today' }],
    });
    expect((await events(a.runId, 'approval_rejected'))[0]!.data).toMatchObject({ operators: ['bob'] });
    expect((await approve(a.approvalId, alice.token)).status).toBe(409);
  });

  it('voids the grant when the active policy now denies, needs a higher tier, or refuses the proposal', async () => {
    for (const [mode, reason] of [
      ['deny', 'pushes are frozen'],
      ['tier3', 'requires tier 3'],
      ['problem', 'tool unknown now'],
    ] as const) {
      policyMode = mode;
      const a = await requestApproval();
      const r = await approve(a.approvalId, alice.token);
      expect(r.body).toMatchObject({ status: 'rejected', closed_reason: expect.stringContaining(reason) });
      expect(await events(a.runId, 'approval_granted')).toEqual([]);
      expect((await events(a.runId, 'approval_rejected'))[0]!.data).toMatchObject({
        reason: expect.stringContaining(reason),
        operators: ['alice'],
      });
    }
  });

  it('keeps the vote when the policy does not answer, and grants once it answers again', async () => {
    policyMode = 'silent';
    const a = await requestApproval();
    const r = await approve(a.approvalId, alice.token);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: 'pending', votes: [{ operator: 'alice' }] });
    expect(await events(a.runId, 'approval_vote')).toHaveLength(1);
    // the quorum is in: a late reject cannot undo it while the grant waits for the policy
    expect((await reject(a.approvalId, bob.token)).status).toBe(409);
    await new Promise((res) => setTimeout(res, 400));
    expect(await events(a.runId, 'approval_granted')).toEqual([]);
    policyMode = 'escalate';
    await waitFor(async () => (await events(a.runId, 'approval_granted')).length === 1, 'the sweeper to grant');
    // the grant is published before its transaction commits: the inbox shows it a moment later
    await waitFor(
      async () => (await call('GET', `/v1/approvals/${a.approvalId}`, ADMIN)).body.status === 'granted',
      'the inbox to show the grant',
    );
    expect(await events(a.runId, 'approval_granted')).toHaveLength(1);
  });

  it('escalates at the configured fraction, then expires exactly once; a late vote is 409', async () => {
    const a = await requestApproval({ expiresInMs: 1500 });
    const escalated = await waitFor(async () => (await events(a.runId, 'approval_escalated'))[0], 'escalation');
    expect(escalated.data).toEqual({ approval_id: a.approvalId, fraction: 0.5, notified: ['escalation'] });
    expect(escalated.id).toBe(deriveId(a.approvalId, 'approval_escalated'));
    expect((await call('GET', `/v1/approvals/${a.approvalId}`, ADMIN)).body.status).toBe('pending');
    await waitFor(async () => (await events(a.runId, 'approval_expired')).length === 1, 'expiry', 5000);
    const late = await approve(a.approvalId, alice.token);
    expect(late.status).toBe(409);
    await new Promise((res) => setTimeout(res, 300));
    expect(await events(a.runId, 'approval_expired')).toHaveLength(1);
    expect(await events(a.runId, 'approval_escalated')).toHaveLength(1);
    expect((await call('GET', `/v1/approvals/${a.approvalId}`, ADMIN)).body).toMatchObject({
      status: 'expired',
      closed_reason: expect.stringContaining('no decision before'),
    });
  });

  it('grants a standing approval with the vote; lists it; revokes it once', async () => {
    const noSession = await requestApproval();
    const refused = await approve(noSession.approvalId, alice.token, {
      standing: { scope: 'session', ttl_seconds: 60 },
    });
    expect(refused.status).toBe(400);
    expect(refused.body.errors).toEqual([{ path: 'standing.scope', message: expect.any(String) }]);

    const a = await requestApproval({ sessionId: 'sess-9' });
    const r = await approve(a.approvalId, alice.token, { standing: { scope: 'session', ttl_seconds: 3600 } });
    expect(r.body.status).toBe('granted');
    const standingId = deriveId(a.approvalId, 'standing');
    const listed = await waitFor(async () => {
      const l = await call('GET', '/v1/standing-approvals', viewer.token);
      return (l.body.items as { standing_id: string }[]).find((s) => s.standing_id === standingId);
    }, 'the standing approval listed');
    expect(listed).toMatchObject({
      approval_id: a.approvalId,
      scope: 'session',
      agent_id: 'agent-7',
      session_id: 'sess-9',
      tool: 'git.push',
      max_tier: 2,
      granted_by: ['alice'],
    });
    expect((await call('POST', `/v1/standing-approvals/${standingId}/revoke`, viewer.token, {})).status).toBe(403);
    const revoked = await call('POST', `/v1/standing-approvals/${standingId}/revoke`, bob.token, { reason: 'done' });
    expect(revoked.status).toBe(200);
    await waitFor(async () => {
      const l = await call('GET', '/v1/standing-approvals', viewer.token);
      return !(l.body.items as { standing_id: string }[]).some((s) => s.standing_id === standingId);
    }, 'the revoked standing approval gone from the active list');
    const all = await call('GET', '/v1/standing-approvals?all=true', viewer.token);
    expect(
      (all.body.items as { standing_id: string; revoked_at?: string }[]).find((s) => s.standing_id === standingId),
    ).toMatchObject({ revoked_at: expect.any(String) });
    expect((await call('POST', `/v1/standing-approvals/${standingId}/revoke`, bob.token, {})).status).toBe(409);
    expect((await call('POST', `/v1/standing-approvals/${newId()}/revoke`, bob.token, {})).status).toBe(404);
  });

  it('manages operators: admin only, tokens never listed, a revoked token stops working', async () => {
    expect(
      (await call('POST', '/v1/operators', alice.token, { name: 'x', roles: ['viewer'], max_tier: 1 })).status,
    ).toBe(403);
    const bad = await call('POST', '/v1/operators', ADMIN, { name: '', roles: ['root'], max_tier: 4 });
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['max_tier', 'name', 'roles.0']);
    const zed = await operator('zed', ['approver'], 1);
    const list = await waitFor(async () => {
      const l = await call('GET', '/v1/operators', ADMIN);
      return (l.body.items as { id: string }[]).some((o) => o.id === zed.id) ? l : undefined;
    }, 'zed listed');
    expect(JSON.stringify(list.body)).not.toContain('token');
    expect((list.body.items as { id: string }[]).find((o) => o.id === zed.id)).toMatchObject({
      name: 'zed',
      roles: ['approver'],
      max_tier: 1,
      created_by: 'bootstrap-admin',
      revoked_at: null,
    });
    expect((await call('POST', `/v1/operators/${zed.id}/revoke`, ADMIN, {})).status).toBe(200);
    await waitFor(async () => (await call('GET', '/v1/approvals', zed.token)).status === 401, 'zed refused');
    expect((await call('POST', `/v1/operators/${zed.id}/revoke`, ADMIN, {})).status).toBe(409);
    expect((await call('POST', `/v1/operators/${newId()}/revoke`, ADMIN, {})).status).toBe(404);
  });

  it('lists by status, newest first, with a cursor that pages without gaps or repeats', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await requestApproval()).approvalId);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await call(
        'GET',
        `/v1/approvals?status=pending&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
        viewer.token,
      );
      expect(page.status).toBe(200);
      seen.push(...(page.body.items as { id: string; status: string }[]).map((x) => x.id));
      expect((page.body.items as { status: string }[]).every((x) => x.status === 'pending')).toBe(true);
      cursor = page.body.next_cursor as string | undefined;
    } while (cursor);
    expect(seen.filter((id) => ids.includes(id))).toEqual([...ids].reverse());
    expect(new Set(seen).size).toBe(seen.length);
    const bad = await call('GET', '/v1/approvals?status=maybe&cursor=zzz', viewer.token);
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: { path: string }) => e.path)).toEqual(['status']);
  });

  it('turns a review item into a fine verdict, or a flagged one with a compensating, policy-checked run', async () => {
    const review = async (action: { tool: string; args: Record<string, unknown> }, output: unknown) => {
      const runId = newId();
      const reviewId = deriveId(runId, 'review');
      await publisher.publishEvent(
        makeEnvelope({
          type: 'review_requested',
          runId,
          producer: 'orchestrator',
          traceId: newTraceId(),
          data: {
            review_id: reviewId,
            action,
            result: { output, output_hash: sha256Canonical(output) },
            agent: { id: 'agent-7', role: 'dev' },
            session_id: 's-1',
            outcome: 'succeeded',
            rule_ids: ['write-review'],
          },
        }),
      );
      await waitFor(async () => (await call('GET', `/v1/reviews/${reviewId}`, viewer.token)).status === 200, 'review');
      return { runId, reviewId };
    };
    const created = await review(
      { tool: 'fs.write_file', args: { path: 'notes/new.md', content: 'x' } },
      { created: true },
    );
    const pending = await call('GET', '/v1/reviews?status=pending', viewer.token);
    expect((pending.body.items as { id: string }[]).map((x) => x.id)).toContain(created.reviewId);
    expect((await call('GET', `/v1/reviews/${created.reviewId}`, viewer.token)).body).toMatchObject({
      status: 'pending',
      compensation_action: { tool: 'fs.delete', args: { path: 'notes/new.md' } },
    });
    expect((await call('POST', `/v1/reviews/${created.reviewId}/flag`, viewer.token, {})).status).toBe(403);
    const flagged = await call('POST', `/v1/reviews/${created.reviewId}/flag`, alice.token, { comment: 'not wanted' });
    expect(flagged.status).toBe(200);
    const compRunId = deriveId(created.reviewId, 'compensation');
    expect(flagged.body).toMatchObject({
      status: 'flagged',
      resolution: { verdict: 'flagged', operator: 'alice', comment: 'not wanted', compensation_run_id: compRunId },
    });
    const submitted = (await readAll(t.bus, t.subjects.streams.ingest, t.subjects.ingestTasks)).map(
      (m) => m.json() as { run_id: string; action: unknown; agent: unknown; metadata: Record<string, unknown> },
    );
    expect(submitted.filter((s) => s.run_id === compRunId)).toEqual([
      expect.objectContaining({
        action: { tool: 'fs.delete', args: { path: 'notes/new.md' } },
        agent: { id: 'agent-7', role: 'dev' },
        metadata: expect.objectContaining({ compensates_run_id: created.runId, review_id: created.reviewId }),
      }),
    ]);
    expect((await events(created.runId, 'review_resolved'))[0]!.data).toMatchObject({
      verdict: 'flagged',
      compensation_run_id: compRunId,
    });
    expect((await call('POST', `/v1/reviews/${created.reviewId}/fine`, bob.token, {})).status).toBe(409);

    const overwrite = await review({ tool: 'fs.write_file', args: { path: 'a.md', content: 'x' } }, { bytes: 1 });
    const fine = await call('POST', `/v1/reviews/${overwrite.reviewId}/fine`, bob.token, {});
    expect(fine.body).toMatchObject({ status: 'fine', resolution: { verdict: 'fine', compensation_run_id: null } });
    expect((await call('POST', `/v1/reviews/${newId()}/fine`, bob.token, {})).status).toBe(404);
  });

  it('counts decisions by channel and outcome, pending by tier, and serves its OpenAPI document', async () => {
    const a = await requestApproval();
    await call('POST', `/v1/approvals/${a.approvalId}/approve`, alice.token, {});
    const text = await (await fetch(`${url}/metrics`)).text();
    expect(text).toMatch(/warden_approval_decisions_total\{[^}]*channel="rest"[^}]*outcome="granted"[^}]*\} [1-9]/);
    expect(text).toMatch(/warden_approval_wait_seconds_count\{[^}]*outcome="granted"[^}]*\} [1-9]/);
    expect(text).toMatch(/warden_approval_expiries_total(\{[^}]*\})? [1-9]/);
    expect(text).toMatch(/warden_approvals_pending\{[^}]*tier="2"[^}]*\} \d+/);
    const doc = (await call('GET', '/openapi.json', null)).body as { paths: Record<string, unknown> };
    for (const p of [
      '/v1/approvals',
      '/v1/approvals/{id}/approve',
      '/v1/approvals/{id}/reject',
      '/v1/operators',
      '/v1/standing-approvals/{id}/revoke',
      '/v1/reviews/{id}/flag',
    ])
      expect(Object.keys(doc.paths)).toContain(p);
  });
  it('is driven from the CLI: list, approve (channel cli), reject with a reason, usage errors', async () => {
    const { main } = await import('@warden/cli');
    const cli = async (argv: string[], tok: string) => {
      let stdout = '';
      let stderr = '';
      const io = {
        stdout: { write: (s: string) => (stdout += s) },
        stderr: { write: (s: string) => (stderr += s) },
        env: { APPROVALS_URL: url, WARDEN_TOKEN: tok },
        root: '/nonexistent',
      };
      return { code: await main(argv, io), stdout, stderr };
    };
    const a = await requestApproval();
    const b = await requestApproval();
    const list = await cli(['approvals', 'list', '--status', 'pending', '--limit', '200'], viewer.token);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(a.approvalId);
    const ok = await cli(['approve', a.approvalId, '--comment', 'from the terminal'], alice.token);
    expect(ok).toMatchObject({ code: 0, stdout: expect.stringContaining('granted') });
    expect((await call('GET', `/v1/approvals/${a.approvalId}`, ADMIN)).body.votes).toEqual([
      expect.objectContaining({ operator: 'alice', channel: 'cli', comment: 'from the terminal' }),
    ]);
    expect((await cli(['reject', b.approvalId], bob.token)).code).toBe(2);
    const no = await cli(['reject', b.approvalId, '--reason', 'too risky'], bob.token);
    expect(no.code).toBe(0);
    expect((await call('GET', `/v1/approvals/${b.approvalId}`, ADMIN)).body).toMatchObject({
      status: 'rejected',
      votes: [{ operator: 'bob', vote: 'reject', comment: 'too risky', channel: 'cli' }],
    });
    const again = await cli(['approve', b.approvalId], alice.token);
    expect(again).toMatchObject({ code: 1, stderr: expect.stringContaining('409 APPROVAL.ALREADY_DECIDED') });
    const forbidden = await cli(['approve', b.approvalId], viewer.token);
    expect(forbidden).toMatchObject({ code: 1, stderr: expect.stringContaining('403') });
  });

  it('rebuilds votes, closures, operators and reviews from the log into exactly the live tables', async () => {
    await new Promise((res) => setTimeout(res, 300)); // let the projections settle on the last events
    await app.close();
    app = undefined as unknown as INestApplication;
    const ds = await openDataSource({ url: t.databaseUrl, schema: 'approvals' });
    const snapshot = async () => ({
      inbox: await ds.query('SELECT * FROM approvals.inbox ORDER BY id'),
      votes: await ds.query('SELECT * FROM approvals.votes ORDER BY approval_id, operator_id'),
      operators: await ds.query('SELECT * FROM approvals.operators ORDER BY id'),
      reviews: await ds.query('SELECT * FROM approvals.reviews ORDER BY id'),
      resolutions: await ds.query('SELECT * FROM approvals.review_resolutions ORDER BY id'),
    });
    const live = await snapshot();
    expect(live.votes.length).toBeGreaterThan(10);
    expect(live.resolutions.length).toBe(2);
    await rebuildService(rebuildTarget, { ...process.env, ...t.env });
    expect(await snapshot()).toEqual(live);
    await ds.destroy();
  });
});
