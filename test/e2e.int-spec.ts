import { mkdtempSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { headers as natsHeaders } from '@nats-io/nats-core';
import { newId } from '@warden/kernel';
import { formatTraceparent } from '@warden/observability';
import { createTestEnv, readAll, runEvents, waitFor, type TestEnv } from '@warden/testing';
import { System } from './support/system';

const ADMIN = 'e2e-admin-token-0123456789abcdef';
const TERMINAL = ['succeeded', 'failed', 'denied', 'rejected', 'expired', 'cancelled'];

describe('a proposal flows from the bus through all five services', () => {
  let t: TestEnv;
  let sys: System;
  let workspace: string;

  beforeAll(async () => {
    t = await createTestEnv();
    workspace = mkdtempSync(join(tmpdir(), 'warden-e2e-'));
    writeFileSync(join(workspace, 'hello.txt'), 'hello, warden\n');
    sys = new System(t, { WARDEN_WORKSPACE: workspace, WARDEN_BOOTSTRAP_ADMIN_TOKEN: ADMIN });
    await sys.startAll();
  });
  afterAll(async () => {
    await sys?.stopAll();
    await t?.cleanup();
  });

  /** Publishes a submission the way integrators do: JetStream publish to the ingest subject. */
  async function submit(body: unknown, opts: { msgId?: string; traceparent?: string } = {}) {
    const h = natsHeaders();
    if (opts.traceparent) h.set('traceparent', opts.traceparent);
    const payload = typeof body === 'string' ? body : JSON.stringify(body);
    return t.bus.js.publish(t.subjects.ingestTasks, payload, { msgID: opts.msgId ?? newId(), headers: h });
  }

  async function getRun(runId: string) {
    const r = await fetch(`${sys.url('orchestrator')}/v1/runs/${runId}`, {
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    return r.status === 200
      ? ((await r.json()) as {
          status: string;
          result?: { output: unknown };
          trace_id: string;
          events: { type: string; trace_id: string }[];
        })
      : undefined;
  }

  async function terminal(runId: string) {
    return waitFor(
      async () => {
        const run = await getRun(runId);
        return run && TERMINAL.includes(run.status) ? run : undefined;
      },
      `run ${runId} to finish`,
      20_000,
    );
  }

  const proposal = (
    tool: string,
    args: Record<string, unknown>,
    role = 'dev',
    extra: Record<string, unknown> = {},
  ) => ({
    run_id: newId(),
    agent: { id: 'agent-e2e', role },
    session_id: 'sess-e2e',
    action: { tool, args },
    intent: 'e2e test',
    ...extra,
  });

  it('runs an allowed write to success: file written, events in order, one trace id', async () => {
    const traceId = 'c0ffee00c0ffee00c0ffee00c0ffee00';
    const p = proposal('fs.write_file', { path: 'notes/a.md', content: 'hi from e2e' });
    await submit(p, { traceparent: formatTraceparent(traceId) });
    const run = await terminal(p.run_id);
    expect(run.status).toBe('succeeded');
    expect(readFileSync(join(workspace, 'notes/a.md'), 'utf8')).toBe('hi from e2e');
    expect(run.trace_id).toBe(traceId);
    const events = await runEvents(t.bus, t.subjects, p.run_id);
    expect(events.map((e) => e.type)).toEqual([
      'task_received',
      'decision_made',
      'run_queued',
      'run_started',
      'run_succeeded',
    ]);
    expect(new Set(events.map((e) => e.trace_id))).toEqual(new Set([traceId]));
    expect(run.events.map((e) => e.type)).toEqual(events.map((e) => e.type));
  });

  it('reads a file back as the run result', async () => {
    const p = proposal('fs.read_file', { path: 'hello.txt' }, 'research');
    await submit(p);
    const run = await terminal(p.run_id);
    expect(run.status).toBe('succeeded');
    expect(JSON.stringify(run.result?.output)).toContain('hello, warden');
  });

  it('rejects an invalid submission with field paths, and no run exists', async () => {
    const msgId = `bad-${newId()}`;
    await submit({ agent: { id: 'x' }, action: { tool: 'NotATool' }, run_id: newId(), surprise: 1 }, { msgId });
    const rejected = await waitFor(async () => {
      const msgs = await readAll(t.bus, t.subjects.streams.events, t.subjects.rejected(msgId));
      return msgs.length ? (msgs[0]!.json() as { data: { errors: { path: string; message: string }[] } }) : undefined;
    }, 'task_rejected');
    const paths = rejected.data.errors.map((e) => e.path).sort();
    expect(paths).toEqual(expect.arrayContaining(['action.tool', 'agent.role', 'surprise']));
    for (const e of rejected.data.errors) expect(e.message.length).toBeGreaterThan(0);
    const anyRun = await readAll(t.bus, t.subjects.streams.events, t.subjects.eventsOfType('task_received'));
    expect(anyRun.map((m) => (m.json() as { data: { source_id?: string } }).data.source_id)).not.toContain(msgId);
  });

  it('makes one run of the same Nats-Msg-Id twice and of the same idempotency key twice', async () => {
    const p = proposal('fs.read_file', { path: 'hello.txt' });
    const msgId = newId();
    const a1 = await submit(p, { msgId });
    const a2 = await submit(p, { msgId });
    expect(a2.duplicate).toBe(true);
    expect(a2.seq).toBe(a1.seq);

    const key = `idem-${newId()}`;
    const first = proposal('fs.read_file', { path: 'hello.txt' }, 'dev', { idempotency_key: key });
    const second = { ...first, run_id: undefined };
    await submit(first);
    await submit(second); // new msg id, same agent + key
    await terminal(first.run_id);
    // the second submission's ingest message has been handled once the next one is
    const marker = proposal('fs.read_file', { path: 'hello.txt' });
    await submit(marker);
    await terminal(marker.run_id);
    const received = (await readAll(t.bus, t.subjects.streams.events, t.subjects.eventsOfType('task_received'))).map(
      (m) => m.json() as { run_id: string; data: { submission: { idempotency_key?: string } } },
    );
    expect(received.filter((e) => e.data.submission.idempotency_key === key)).toHaveLength(1);
    expect(received.filter((e) => e.run_id === p.run_id)).toHaveLength(1);
  });

  it.each([
    ['a tool the policy denies', proposal('secrets.read', { name: 'db' })],
    ['a tool no rule names', proposal('rocket.launch', {})],
    ['a tool the role may not use', proposal('fs.write_file', { path: 'x.md', content: 'x' }, 'research')],
    ['a path escaping the workspace', proposal('fs.write_file', { path: '../escape.md', content: 'x' })],
  ])('denies %s and never starts it', async (_label, p) => {
    await submit(p);
    const run = await terminal(p.run_id);
    expect(run.status).toBe('denied');
    const types = (await runEvents(t.bus, t.subjects, p.run_id)).map((e) => e.type);
    expect(types).toEqual(['task_received', 'decision_made', 'run_denied']);
    expect(existsSync(join(workspace, '..', 'escape.md'))).toBe(false);
  });

  it('escalates a push to awaiting_approval with an inbox row', async () => {
    const p = proposal('git.push', { remote: 'origin', branch: 'main' });
    await submit(p);
    const run = await waitFor(async () => {
      const r = await getRun(p.run_id);
      return r?.status === 'awaiting_approval' ? r : undefined;
    }, 'awaiting_approval');
    expect(run.events.map((e) => e.type)).toEqual(['task_received', 'decision_made', 'approval_requested']);
  });

  /** An operator created through the approvals API (admin): returns its token. */
  async function operator(name: string, roles: string[], maxTier: number): Promise<string> {
    const r = await fetch(`${sys.url('approvals')}/v1/operators`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name, roles, max_tier: maxTier }),
    });
    expect(r.status).toBe(201);
    return ((await r.json()) as { token: string }).token;
  }

  async function approvalOf(runId: string): Promise<{ id: string; tier: number; required_votes: number }> {
    const run = await waitFor(async () => {
      const r = await getRun(runId);
      return r?.status === 'awaiting_approval' ? r : undefined;
    }, `run ${runId} awaiting approval`);
    const approvalId = (run as unknown as { approval: { id: string } }).approval.id;
    return waitFor(async () => {
      const r = await fetch(`${sys.url('approvals')}/v1/approvals/${approvalId}`, {
        headers: { authorization: `Bearer ${ADMIN}` },
      });
      return r.status === 200 ? ((await r.json()) as { id: string; tier: number; required_votes: number }) : undefined;
    }, `approval ${approvalId} in the inbox`);
  }

  const vote = (token: string, approvalId: string, verb: 'approve' | 'reject', body: Record<string, unknown> = {}) =>
    fetch(`${sys.url('approvals')}/v1/approvals/${approvalId}/${verb}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('a tier-3 write under prod/ runs only after two distinct operators approve', async () => {
    const alice = await operator('alice-e2e', ['approver'], 3);
    const bob = await operator('bob-e2e', ['approver'], 3);
    const p = proposal('fs.write_file', { path: 'prod/config.txt', content: 'approved twice' });
    await submit(p);
    const approval = await approvalOf(p.run_id);
    expect(approval).toMatchObject({ tier: 3, required_votes: 2 });

    expect((await vote(alice, approval.id, 'approve', { comment: 'looks right' })).status).toBe(200);
    // the same operator again does not make a quorum
    expect((await vote(alice, approval.id, 'approve')).status).toBe(409);
    expect((await getRun(p.run_id))?.status).toBe('awaiting_approval');
    expect(existsSync(join(workspace, 'prod/config.txt'))).toBe(false);

    expect((await vote(bob, approval.id, 'approve')).status).toBe(200);
    const run = await terminal(p.run_id);
    expect(run.status).toBe('succeeded');
    expect(readFileSync(join(workspace, 'prod/config.txt'), 'utf8')).toBe('approved twice');
    expect(run.events.map((e) => e.type)).toEqual(
      expect.arrayContaining([
        'approval_requested',
        'approval_vote',
        'approval_granted',
        'run_queued',
        'run_succeeded',
      ]),
    );
  });

  it('a rejected escalation ends the run rejected and nothing runs; a tier-2 operator cannot decide tier 3', async () => {
    const carol = await operator('carol-e2e', ['approver'], 2);
    const dave = await operator('dave-e2e', ['approver'], 3);
    const p = proposal('fs.write_file', { path: 'prod/never.txt', content: 'no' });
    await submit(p);
    const approval = await approvalOf(p.run_id);
    expect((await vote(carol, approval.id, 'approve')).status).toBe(403);
    expect((await vote(dave, approval.id, 'reject', { comment: 'not today' })).status).toBe(200);
    const run = await terminal(p.run_id);
    expect(run.status).toBe('rejected');
    expect(run.events.map((e) => e.type)).not.toContain('run_started');
    expect(existsSync(join(workspace, 'prod/never.txt'))).toBe(false);
  });

  it('a standing approval lets the same agent repeat an escalated tool without asking again', async () => {
    const erin = await operator('erin-e2e', ['approver'], 2);
    const agent = { id: 'agent-standing', role: 'dev' };
    const first = proposal('git.push', { remote: 'origin', branch: 'feature/x' }, 'dev', { agent });
    await submit(first);
    const approval = await approvalOf(first.run_id);
    const r = await vote(erin, approval.id, 'approve', { standing: { scope: 'agent', ttl_seconds: 3600 } });
    expect(r.status).toBe(200);
    await waitFor(async () => {
      const s = await fetch(`${sys.url('approvals')}/v1/standing-approvals`, {
        headers: { authorization: `Bearer ${ADMIN}` },
      });
      const list = (await s.json()) as { items?: unknown[] } | unknown[];
      const items = Array.isArray(list) ? list : (list.items ?? []);
      return items.length > 0;
    }, 'the standing approval to be listed');

    const second = proposal('git.push', { remote: 'origin', branch: 'feature/y' }, 'dev', { agent });
    await submit(second);
    const run = await waitFor(async () => {
      const x = await getRun(second.run_id);
      return x && x.status !== 'received' ? x : undefined;
    }, 'the second push to be decided');
    expect(run.status).not.toBe('awaiting_approval');
    const decision = (run as unknown as { decision: { outcome: string; rule_ids: string[] } }).decision;
    expect(decision.outcome).toBe('allow');
    expect(decision.rule_ids.some((id) => id.startsWith('standing:'))).toBe(true);

    // another agent is not covered
    const other = proposal('git.push', { remote: 'origin', branch: 'feature/z' }, 'dev', {
      agent: { id: 'agent-other', role: 'dev' },
    });
    await submit(other);
    await approvalOf(other.run_id);
  });

  it('dead-letters a poison message while the next message is processed', async () => {
    // valid JSON on the event stream that is not a valid envelope: the policy consumer must refuse it
    const poisonRun = newId();
    await t.bus.js.publish(
      t.subjects.event(poisonRun, 'task_received'),
      JSON.stringify({ id: 'nope', type: 'task_received' }),
      { msgID: newId() },
    );
    const next = proposal('fs.read_file', { path: 'hello.txt' });
    await submit(next);
    expect((await terminal(next.run_id)).status).toBe('succeeded');
    const dead = await waitFor(async () => {
      const msgs = await readAll(t.bus, t.subjects.streams.deadLetters, t.subjects.deadLettersAll);
      return msgs.length ? msgs : undefined;
    }, 'a dead letter');
    expect(dead.some((m) => m.subject === t.subjects.deadLetter('policy', 'task-received'))).toBe(true);
    const metrics = await (await fetch(`${sys.url('policy')}/metrics`)).text();
    expect(metrics).toMatch(/warden_bus_dead_letters_total\{[^}]*consumer="policy-task-received"[^}]*\} [1-9]/);
  });
});
