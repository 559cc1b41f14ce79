import type { INestApplication } from '@nestjs/common';
import {
  decisionSigningPayload,
  executeCommandSigningPayload,
  type Decision,
  type ExecuteCommand,
} from '@warden/contracts';
import { Publisher, makeEnvelope } from '@warden/bus';
import {
  deriveId,
  newId,
  newTraceId,
  sha256Canonical,
  signCanonical,
  signingKeysOf,
  verifyCanonical,
  type SigningKeys,
} from '@warden/kernel';
import { startService } from '@warden/runtime';
import { secretHash } from '@warden/identity';
import { createTestEnv, forgeAs, readAll, testKeyring, testPublisher, waitFor, type TestEnv } from '@warden/testing';
import { AppModule } from '../src/app.module';
import { loadConfig } from '../src/config';
import { orchestratorProjections } from '../src/projections';

const ADMIN = 'test-admin-token-0123456789abcdef';

describe('orchestrator on real NATS + Postgres', () => {
  let t: TestEnv;
  let app: INestApplication;
  let url: string;
  let publisher: Publisher;
  let keys: SigningKeys;
  const policyKeys = signingKeysOf(testKeyring('policy'), 'policy');

  const start = async () => {
    const config = loadConfig({
      ...process.env,
      ...t.env,
      ORCHESTRATOR_PORT: '0',
      WARDEN_BOOTSTRAP_ADMIN_TOKEN: ADMIN,
    });
    app = await startService(AppModule.forRoot(config), { service: 'orchestrator', port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
  };

  beforeAll(async () => {
    t = await createTestEnv();
    keys = signingKeysOf(testKeyring('orchestrator'), 'orchestrator');
    publisher = testPublisher(t);
    await start();
  });
  afterAll(async () => {
    await app?.close();
    await t?.cleanup();
  });

  const action = { tool: 'fs.read_file', args: { path: 'a.txt' } };

  async function submit(
    decision: Partial<Decision>,
    opts: { sign?: boolean; session?: string; agent?: string; forgedFirst?: Partial<Decision> } = {},
  ) {
    const runId = newId();
    const traceId = newTraceId();
    const received = makeEnvelope({
      type: 'task_received',
      runId,
      producer: 'test',
      traceId,
      data: {
        submission: {
          run_id: runId,
          agent: { id: opts.agent ?? 'agent-1', role: 'dev' },
          session_id: opts.session,
          action,
        },
        channel: 'bus',
      },
    });
    const d: Decision = {
      outcome: 'allow',
      tier: 1,
      mode: 'enforce',
      rule_ids: ['r'],
      reasons: ['ok'],
      constraints: {},
      policy_version: 'v',
      policy_digest: 'sha256:' + 'a'.repeat(64),
      input_hash: 'sha256:' + 'b'.repeat(64),
      trace_id: traceId,
      evaluated_at: new Date().toISOString(),
      ...decision,
    };
    const signed =
      opts.sign === false
        ? { ...d, signature: 'Zm9yZ2Vk' }
        : { ...d, signature: signCanonical(policyKeys, decisionSigningPayload(runId, action, d)) };
    const decided = makeEnvelope({
      type: 'decision_made',
      runId,
      producer: 'policy',
      traceId,
      causationId: received.id,
      data: signed,
    });
    await publisher.publishEvents([received]);
    if (opts.forgedFirst) {
      // claims to be the policy's, signed with a key nobody trusts
      const forged = forgeAs(
        makeEnvelope({
          type: 'decision_made',
          runId,
          producer: 'policy',
          traceId,
          data: { ...d, ...opts.forgedFirst, signature: 'Zm9yZ2Vk' },
        }),
      );
      await publisher.publishEvents([forged]);
    }
    await publisher.publishEvents([decided]);
    return { runId, traceId, received, decided, decision: signed };
  }

  const get = (path: string, token: string | null = ADMIN) =>
    fetch(url + path, { headers: token ? { authorization: `Bearer ${token}` } : {} });

  async function runStatus(runId: string, status: string) {
    return waitFor(async () => {
      const r = await get(`/v1/runs/${runId}`);
      if (r.status !== 200) return undefined;
      const body = (await r.json()) as { status: string; events: { type: string }[] };
      return body.status === status ? body : undefined;
    }, `run ${runId} to be ${status}`);
  }

  it('queues an allowed run and sends its role a signed command, in that order', async () => {
    const { runId, traceId, decided } = await submit({});
    const run = await runStatus(runId, 'queued');
    expect(run.events.map((e) => e.type)).toEqual(['task_received', 'decision_made', 'run_queued']);
    const cmds = await readAll(t.bus, t.subjects.streams.commands, t.subjects.workerExecute('dev'));
    const cmd = cmds.map((m) => m.json() as ExecuteCommand).find((c) => c.run_id === runId)!;
    expect(cmd).toMatchObject({ role: 'dev', action, trace_id: traceId, causation_id: decided.id });
    expect(cmd.decision_hash).toBe(sha256Canonical(cmd.decision));
    expect(verifyCanonical(keys, executeCommandSigningPayload(cmd), cmd.signature)).toBe(true);
    expect(
      verifyCanonical(
        keys,
        executeCommandSigningPayload({ ...cmd, action: { tool: 'fs.write_file', args: {} } }),
        cmd.signature,
      ),
    ).toBe(false);
  });

  it('denies on a deny decision', async () => {
    const denied = await submit({ outcome: 'deny', rule_ids: ['secrets-read'], reasons: ['never'] });
    const run = await runStatus(denied.runId, 'denied');
    expect(run.events.map((e) => e.type)).toEqual(['task_received', 'decision_made', 'run_denied']);
    const cmds = await readAll(t.bus, t.subjects.streams.commands, t.subjects.commandsAll);
    expect(cmds.map((m) => (m.json() as ExecuteCommand).run_id)).not.toContain(denied.runId);
  });

  const metric = async (pattern: RegExp) => {
    const text = await (await fetch(`${url}/metrics`)).text();
    return text
      .split('\n')
      .filter((l) => pattern.test(l))
      .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
  };
  const forgedDecisionsMetric = /^warden_security_forged_events_total\{[^}]*type="decision_made"/;

  it('refuses a forged decision envelope (dead-lettered, counted, not in the run) and acts on the authentic one', async () => {
    const before = await metric(forgedDecisionsMetric);
    // a forged deny first: it must neither end the run nor be taken as the run's decision
    const { runId, decided } = await submit({}, { forgedFirst: { outcome: 'deny', reasons: ['forged'] } });
    const run = (await runStatus(runId, 'queued')) as unknown as {
      events: { id: string; type: string }[];
      decision: { signature: string };
    };
    expect(run.events.map((e) => e.type)).toEqual(['task_received', 'decision_made', 'run_queued']);
    expect(run.events[1]!.id).toBe(decided.id);
    expect(run.decision.signature).toBe(decided.data.signature);
    // each of the orchestrator's projections (runs, audit) refuses and counts it
    await waitFor(async () => (await metric(forgedDecisionsMetric)) >= before + 1, 'the forged decision counted');
    const dead = await readAll(t.bus, t.subjects.streams.deadLetters, t.subjects.deadLetter('orchestrator', 'runs'));
    expect(dead.some((m) => (m.json() as { run_id?: string; type?: string }).run_id === runId)).toBe(true);
  });

  it('ignores a decision the policy key did not sign, even inside an authentic envelope (recorded, counted)', async () => {
    const before = await metric(/^warden_orchestrator_forged_decisions_total/);
    const lone = await submit({}, { sign: false });
    await waitFor(async () => {
      const r = (await (await get(`/v1/runs/${lone.runId}`)).json()) as { ignored_events?: unknown[] };
      return (r.ignored_events?.length ?? 0) === 1;
    }, 'the unsigned decision in the timeline');
    const r = (await (await get(`/v1/runs/${lone.runId}`)).json()) as { status: string; decision: unknown };
    expect(r).toMatchObject({ status: 'received', decision: null });
    expect(await metric(/^warden_orchestrator_forged_decisions_total/)).toBe(before + 1);
    const cmds = await readAll(t.bus, t.subjects.streams.commands, t.subjects.commandsAll);
    expect(cmds.map((m) => (m.json() as ExecuteCommand).run_id)).not.toContain(lone.runId);
  });

  async function awaitingApproval(tier: 2 | 3 = 2) {
    const s = await submit({ outcome: 'escalate', tier });
    const run = (await runStatus(s.runId, 'awaiting_approval')) as unknown as {
      approval: { id: string };
      events: { type: string; data: { action_hash?: string; expires_at?: string } }[];
    };
    return { ...s, approvalId: run.approval.id, requested: run.events.find((e) => e.type === 'approval_requested')! };
  }

  /** Publishes each operator's approve vote (as the approvals service would), then a grant counting them. */
  async function grant(
    runId: string,
    traceId: string,
    approvalId: string,
    data: Record<string, unknown>,
    voters: string[] = ['op-1'],
  ) {
    const votes = voters.map((operatorId) => ({
      vote_id: deriveId(approvalId, 'vote', operatorId),
      operator_id: operatorId,
      operator: `name of ${operatorId}`,
    }));
    await publisher.publishEvents(
      votes.map((v) =>
        makeEnvelope({
          type: 'approval_vote',
          id: v.vote_id,
          runId,
          producer: 'approvals',
          traceId,
          data: { approval_id: approvalId, operator: v.operator, operator_id: v.operator_id, vote: 'approve' },
        }),
      ),
    );
    return publisher.publishEvent(
      makeEnvelope({
        type: 'approval_granted',
        runId,
        producer: 'approvals',
        traceId,
        data: { approval_id: approvalId, operators: votes.map((v) => v.operator), votes, ...data },
      }),
    );
  }

  const bound = (a: { decision: Decision }, tier: 2 | 3 = 2) => ({
    action_hash: sha256Canonical(action),
    policy_digest: a.decision.policy_digest,
    tier,
  });

  async function voided(runId: string, reason: RegExp) {
    const denied = (await runStatus(runId, 'denied')) as unknown as {
      events: { type: string; data: { rule_ids?: string[]; reasons?: string[] } }[];
    };
    expect(denied.events.at(-1)!.data).toMatchObject({ rule_ids: ['orchestrator.approval-binding'] });
    expect(denied.events.at(-1)!.data.reasons![0]).toMatch(reason);
    const cmds = await readAll(t.bus, t.subjects.streams.commands, t.subjects.commandsAll);
    expect(cmds.map((m) => (m.json() as ExecuteCommand).run_id)).not.toContain(runId);
  }

  it('a forged or replayed grant moves nothing: the run keeps waiting and gets no command', async () => {
    const a = await awaitingApproval(3);
    const before = await metric(/^warden_security_forged_events_total\{[^}]*type="approval_granted"/);
    // the issue's attack: ids, hash and digest copied from approval_requested, operators made up
    await publisher.publishEvent(
      forgeAs(
        makeEnvelope({
          type: 'approval_granted',
          runId: a.runId,
          producer: 'approvals',
          traceId: a.traceId,
          data: { approval_id: a.approvalId, operators: ['nobody-a', 'nobody-b'], ...bound(a, 3) },
        }),
      ),
    );
    // an authentic grant of another run, replayed onto this one's subject: it names the other run
    const other = await awaitingApproval(2);
    await grant(other.runId, other.traceId, other.approvalId, bound(other));
    await runStatus(other.runId, 'queued');
    const theirs = (
      await readAll(t.bus, t.subjects.streams.events, t.subjects.event(other.runId, 'approval_granted'))
    )[0]!;
    await t.bus.js.publish(t.subjects.event(a.runId, 'approval_granted'), JSON.stringify(theirs.json()));
    await waitFor(
      async () => (await metric(/^warden_security_forged_events_total\{[^}]*type="approval_granted"/)) >= before + 1,
      'the forged grant counted',
    );
    await new Promise((r) => setTimeout(r, 300));
    const r = (await (await get(`/v1/runs/${a.runId}`)).json()) as { status: string; events: { type: string }[] };
    expect(r.status).toBe('awaiting_approval');
    expect(r.events.map((e) => e.type)).not.toContain('approval_granted');
    const cmds = await readAll(t.bus, t.subjects.streams.commands, t.subjects.commandsAll);
    expect(cmds.map((m) => (m.json() as ExecuteCommand).run_id)).not.toContain(a.runId);
  });

  it('re-checks the quorum from the signed votes: none, too few, one operator twice, or self-approval voids the grant', async () => {
    const none = await awaitingApproval(2);
    await publisher.publishEvent(
      makeEnvelope({
        type: 'approval_granted',
        runId: none.runId,
        producer: 'approvals',
        traceId: none.traceId,
        data: { approval_id: none.approvalId, operators: ['op'], ...bound(none) },
      }),
    );
    await voided(none.runId, /counts no votes/);

    const tooFew = await awaitingApproval(3);
    await grant(tooFew.runId, tooFew.traceId, tooFew.approvalId, bound(tooFew, 3), ['op-1']);
    await voided(tooFew.runId, /quorum not met: 1 distinct approver\(s\), 2 required/);

    const twice = await awaitingApproval(3);
    await grant(twice.runId, twice.traceId, twice.approvalId, bound(twice, 3), ['op-1', 'op-1']);
    await voided(twice.runId, /quorum not met/);

    // a vote the grant names but nobody cast
    const phantom = await awaitingApproval(2);
    await publisher.publishEvent(
      makeEnvelope({
        type: 'approval_granted',
        runId: phantom.runId,
        producer: 'approvals',
        traceId: phantom.traceId,
        data: {
          approval_id: phantom.approvalId,
          operators: ['ghost'],
          votes: [{ vote_id: newId(), operator_id: 'ghost', operator: 'ghost' }],
          ...bound(phantom),
        },
      }),
    );
    await voided(phantom.runId, /not a recorded approve vote/);

    const self = await awaitingApproval(2);
    await grant(self.runId, self.traceId, self.approvalId, bound(self), ['agent-1']);
    await voided(self.runId, /cannot approve its own proposal/);

    const two = await awaitingApproval(3);
    await grant(two.runId, two.traceId, two.approvalId, bound(two, 3), ['op-1', 'op-2']);
    const queued = (await runStatus(two.runId, 'queued')) as unknown as { approval: { operators: string[] } };
    expect(queued.approval.operators).toEqual(['name of op-1', 'name of op-2']);
  });

  it('queues a granted run only when the grant is bound to its exact action and policy digest', async () => {
    const ok = await awaitingApproval();
    expect(ok.requested.data.action_hash).toBe(sha256Canonical(action));
    await grant(ok.runId, ok.traceId, ok.approvalId, {
      action_hash: sha256Canonical(action),
      policy_digest: ok.decision.policy_digest,
      tier: 2,
    });
    await runStatus(ok.runId, 'queued');

    const changed = await awaitingApproval();
    await grant(changed.runId, changed.traceId, changed.approvalId, {
      action_hash: sha256Canonical({ ...action, args: { path: 'other.txt' } }),
      policy_digest: changed.decision.policy_digest,
      tier: 2,
    });
    const denied = (await runStatus(changed.runId, 'denied')) as unknown as {
      events: { type: string; data: { rule_ids?: string[]; reasons?: string[] } }[];
    };
    expect(denied.events.at(-1)!.data).toMatchObject({
      rule_ids: ['orchestrator.approval-binding'],
      reasons: [expect.stringContaining('action')],
    });
    const cmds = await readAll(t.bus, t.subjects.streams.commands, t.subjects.commandsAll);
    expect(cmds.map((m) => (m.json() as ExecuteCommand).run_id)).not.toContain(changed.runId);
  });

  it('asks for a review when a run allowed with review: true finishes', async () => {
    const { runId, traceId } = await submit({ review: true, rule_ids: ['write-review'] });
    await runStatus(runId, 'queued');
    const result = { output: { created: true }, output_hash: sha256Canonical({ created: true }) };
    await publisher.publishEvents([
      makeEnvelope({ type: 'run_started', runId, producer: 'workers', traceId, data: { worker_id: 'w', attempt: 1 } }),
    ]);
    await publisher.publishEvents([
      makeEnvelope({ type: 'run_succeeded', runId, producer: 'workers', traceId, data: { result } }),
    ]);
    await runStatus(runId, 'succeeded');
    const review = await waitFor(
      async () => (await readAll(t.bus, t.subjects.streams.events, t.subjects.event(runId, 'review_requested')))[0],
      'review_requested',
    );
    expect((review.json() as { data: unknown }).data).toEqual({
      review_id: deriveId(runId, 'review'),
      action,
      result,
      agent: { id: 'agent-1', role: 'dev' },
      outcome: 'succeeded',
      rule_ids: ['write-review'],
    });
  });

  it('ends the run expired when its approval expires', async () => {
    const a = await awaitingApproval();
    await publisher.publishEvent(
      makeEnvelope({
        type: 'approval_expired',
        runId: a.runId,
        producer: 'approvals',
        traceId: a.traceId,
        data: { approval_id: a.approvalId, operators: [] },
      }),
    );
    await runStatus(a.runId, 'expired');
  });

  it('asks for approval on escalate, with two votes for tier 3', async () => {
    const { runId } = await submit({ outcome: 'escalate', tier: 3 });
    const run = (await runStatus(runId, 'awaiting_approval')) as unknown as {
      approval: { required_votes: number; status: string };
    };
    expect(run.approval).toMatchObject({ required_votes: 2, status: 'pending' });
  });

  it('answers problem+json: 401 without a token, 403 for a role too low, 404 for an unknown run, 400 for a bad filter', async () => {
    expect((await get('/v1/runs', null)).status).toBe(401);
    expect((await get('/v1/runs', 'wrong-token-wrong-token')).status).toBe(401);
    const viewerId = newId();
    await publisher.publishEvent(
      makeEnvelope({
        type: 'operator_created',
        runId: null,
        correlationId: viewerId,
        producer: 'test',
        traceId: newTraceId(),
        data: {
          operator_id: viewerId,
          name: 'viewer-1',
          roles: ['viewer'],
          max_tier: 1,
          token_hash: secretHash('viewer-token-xyz-0123456789'),
          created_by: 'test',
        },
      }),
    );
    await waitFor(async () => (await get('/v1/runs', 'viewer-token-xyz-0123456789')).status === 200, 'viewer admitted');
    const cancel = await fetch(`${url}/v1/runs/${newId()}/cancel`, {
      method: 'POST',
      headers: { authorization: 'Bearer viewer-token-xyz-0123456789' },
    });
    expect(cancel.status).toBe(403);
    const missing = await get(`/v1/runs/${newId()}`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toContain('application/problem+json');
    const bad = await get('/v1/runs?status=nope&limit=0');
    expect(bad.status).toBe(400);
    const body = (await bad.json()) as { errors: { path: string }[] };
    expect(body.errors.map((e) => e.path).sort()).toEqual(['limit', 'status']);
  });

  it('lists newest first with filters and a cursor that pages without gaps or repeats', async () => {
    const session = `s-${newId()}`;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await submit({ outcome: 'deny' }, { session })).runId);
    for (const id of ids) await runStatus(id, 'denied');
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const r = await get(`/v1/runs?session_id=${session}&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      const page = (await r.json()) as { runs: { run_id: string; status: string }[]; next_cursor: string | null };
      seen.push(...page.runs.map((x) => x.run_id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
    const denied = (await (await get(`/v1/runs?session_id=${session}&status=queued`)).json()) as { runs: unknown[] };
    expect(denied.runs).toEqual([]);
  });

  it('a forged cancellation or outcome, or a replayed one from another run, changes no run', async () => {
    const a = await awaitingApproval(2);
    const before = await metric(/^warden_security_forged_events_total\{[^}]*type="run_(cancelled|succeeded)"/);
    const forged = [
      makeEnvelope({
        type: 'run_cancelled',
        runId: a.runId,
        producer: 'orchestrator',
        traceId: a.traceId,
        data: { by: 'mallory' },
      }),
      makeEnvelope({
        type: 'run_succeeded',
        runId: a.runId,
        producer: 'workers',
        traceId: a.traceId,
        data: { result: { output: {}, output_hash: sha256Canonical({}) } },
      }),
    ].map((e) => forgeAs(e));
    for (const e of forged)
      await t.bus.js.publish(t.subjects.event(a.runId, e.type), JSON.stringify(e), { msgID: e.id });
    // a cancellation signed by the orchestrator for another run, replayed: it names that run, not this one
    const other = await submit({ outcome: 'escalate', tier: 2 });
    await runStatus(other.runId, 'awaiting_approval');
    const c = await fetch(`${url}/v1/runs/${other.runId}/cancel`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    expect(c.status).toBe(202);
    await runStatus(other.runId, 'cancelled');
    const theirs = (
      await readAll(t.bus, t.subjects.streams.events, t.subjects.event(other.runId, 'run_cancelled'))
    )[0]!;
    await t.bus.js.publish(t.subjects.event(a.runId, 'run_cancelled'), JSON.stringify(theirs.json()));
    await waitFor(
      async () =>
        (await metric(/^warden_security_forged_events_total\{[^}]*type="run_(cancelled|succeeded)"/)) >= before + 2,
      'both forgeries counted',
    );
    await new Promise((r) => setTimeout(r, 300));
    const r = (await (await get(`/v1/runs/${a.runId}`)).json()) as { status: string; events: { type: string }[] };
    expect(r.status).toBe('awaiting_approval');
    expect(r.events.map((e) => e.type)).toEqual(['task_received', 'decision_made', 'approval_requested']);
  });

  it('cancels a non-terminal run once; a second cancel is 409', async () => {
    const { runId } = await submit({ outcome: 'escalate', tier: 2 });
    await runStatus(runId, 'awaiting_approval');
    const c1 = await fetch(`${url}/v1/runs/${runId}/cancel`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    expect(c1.status).toBe(202);
    await runStatus(runId, 'cancelled');
    const c2 = await fetch(`${url}/v1/runs/${runId}/cancel`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    expect(c2.status).toBe(409);
  });

  it('dead-letters an event Postgres cannot store and keeps going with the rest of its batch', async () => {
    const poisonRun = newId();
    const poison = makeEnvelope({
      type: 'task_received',
      runId: poisonRun,
      producer: 'test',
      traceId: newTraceId(),
      // jsonb cannot hold U+0000; ingest refuses it, but nothing on the bus is trusted to have passed ingest
      data: {
        submission: { run_id: poisonRun, agent: { id: 'a', role: 'dev' }, action, intent: 'bad\u0000' },
        channel: 'bus',
      },
    });
    const [, good] = await Promise.all([publisher.publishEvents([poison]), submit({})]);
    await runStatus(good.runId, 'queued');
    const dead = await waitFor(async () => {
      const d = await readAll(t.bus, t.subjects.streams.deadLetters, t.subjects.deadLetter('orchestrator', 'runs'));
      return d.find((m) => (m.json() as { id?: string }).id === poison.id);
    }, 'the refused event in the dead-letter stream');
    expect(dead.subject).toBe(t.subjects.deadLetter('orchestrator', 'runs'));
    expect((await get(`/v1/runs/${poisonRun}`)).status).toBe(404);
  });

  it('resumes from its checkpoint after a restart, acting on each event exactly once, and a rebuild equals the live tables', async () => {
    await app.close();
    const pending = [];
    for (let i = 0; i < 20; i++) pending.push(await submit({}));
    await start();
    for (const p of pending) await runStatus(p.runId, 'queued');
    const cmds = (await readAll(t.bus, t.subjects.streams.commands, t.subjects.commandsAll)).map(
      (m) => (m.json() as ExecuteCommand).run_id,
    );
    for (const p of pending) expect(cmds.filter((id) => id === p.runId)).toHaveLength(1);
    const events = (await readAll(t.bus, t.subjects.streams.events, t.subjects.eventsOfType('run_queued'))).map(
      (m) => m.json() as { run_id: string },
    );
    for (const p of pending) expect(events.filter((e) => e.run_id === p.runId)).toHaveLength(1);

    // let the projection settle on the last events (run_queued of every run) before stopping
    await new Promise((r) => setTimeout(r, 300));
    await app.close();
    const live = await snapshotTables(t);
    const p = orchestratorProjections(
      live.ds,
      t.bus,
      t.subjects,
      publisher,
      loadConfig({ ...t.env }),
      testKeyring('orchestrator'),
    );
    await p[0]!.rebuild();
    const rebuilt = await live.snapshot();
    expect(live.before.runs.length).toBeGreaterThan(20);
    expect(rebuilt.runs).toEqual(live.before.runs);
    expect(rebuilt.events).toEqual(live.before.events);
    await live.ds.destroy();
    await start();
  });
});

/** Opens its own DataSource on the test database and snapshots the orchestrator tables. */
async function snapshotTables(t: TestEnv) {
  const { openDataSource } = await import('@warden/persistence');
  const { migrations } = await import('../src/migrations');
  const ds = await openDataSource({ url: t.databaseUrl, schema: 'orchestrator', migrations });
  const snapshot = async () => ({
    runs: await ds.query('SELECT * FROM orchestrator.runs ORDER BY run_id'),
    events: await ds.query('SELECT * FROM orchestrator.run_events ORDER BY id'),
  });
  return { ds, snapshot, before: await snapshot() };
}
