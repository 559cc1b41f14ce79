import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { DeliverPolicy } from '@nats-io/jetstream';
import { BusMessage, Headers, Publisher } from '@warden/bus';
import { Decision, decisionSigningPayload, type Envelope, type TaskSubmission } from '@warden/contracts';
import { deriveId, newId, signingKeysOf, verifyCanonical } from '@warden/kernel';
import { type Redis } from '@warden/persistence';
import { PUBLISHER } from '@warden/runtime';
import {
  readAll,
  waitFor,
  type TestEnv,
  testPublisher,
  sealAs,
  testKeyring,
  testBatchPublisher,
} from '@warden/testing';
import { startPolicyWorld, received, type PolicyWorld } from './support/policy-world';
import { parseBundle, evaluate, policyInput } from '@warden/policy-language';
import { policyProjections } from '../src/decision/projections/projections';

const CONSUMER = 'policy-task-received';

let t: TestEnv;
let app: INestApplication;
let ds: DataSource;
let redis: Redis;
let publisher: Publisher;
let baseUrl: string;
let world: PolicyWorld;
let bundleText: string;

beforeAll(async () => {
  world = await startPolicyWorld('int-test.1');
  ({ t, app, ds, redis } = world);
  bundleText = world.bundleText;
  publisher = testPublisher(t);
  baseUrl = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
});

afterAll(async () => {
  await world?.close();
});

/** Publishes an envelope on its run's subject; `msgId` overrides the event id as Nats-Msg-Id. */
async function publish(env: Envelope, msgId = env.id): Promise<number> {
  const ack = await publisher.publish({ ...publisher.eventMessage(env), msgId });
  return ack.seq;
}

async function publishRaw(subject: string, body: string, msgId: string): Promise<number> {
  return (await t.bus.js.publish(subject, body, { msgID: msgId })).seq;
}

/** Waits until the policy consumer has acked (or dead-lettered) everything up to `seq`. */
async function settled(seq: number): Promise<void> {
  await waitFor(async () => {
    const info = await t.bus.jsm.consumers.info(t.subjects.streams.events, CONSUMER);
    return info.ack_floor.stream_seq >= seq && info.num_ack_pending === 0;
  }, `policy consumer to settle seq ${seq} (acked or terminated: nothing left pending for redelivery)`);
}

async function eventsOf(runId: string, type: string): Promise<Envelope[]> {
  return (await readAll(t.bus, t.subjects.streams.events, t.subjects.event(runId, type))).map(
    (m) => m.json() as Envelope,
  );
}

async function decisionOf(runId: string): Promise<Envelope<'decision_made'>> {
  return waitFor(
    async () => (await eventsOf(runId, 'decision_made'))[0] as Envelope<'decision_made'> | undefined,
    `decision for ${runId}`,
  );
}

/** Publishes one run and waits for its decision. */
async function decide(
  submission: Partial<TaskSubmission> = {},
): Promise<{ env: Envelope<'task_received'>; decision: Envelope<'decision_made'> }> {
  const env = received(submission);
  await publish(env);
  // usage is recorded before the decision is published, so runs of one session stay in order
  return { env, decision: await decisionOf(env.run_id!) };
}

/** The policy consumer's dead letters, with their headers. */
async function deadLetters(): Promise<BusMessage[]> {
  const consumer = await t.bus.js.consumers.get(t.subjects.streams.deadLetters, {
    filter_subjects: t.subjects.deadLetter('policy', 'task-received'),
    deliver_policy: DeliverPolicy.All,
  });
  const out: BusMessage[] = [];
  if ((await consumer.info(true)).num_pending === 0) return out;
  const iter = await consumer.consume({ max_messages: 100 });
  for await (const m of iter) {
    out.push(new BusMessage(m));
    if (m.info.pending === 0) break;
  }
  await iter.close().catch(() => undefined);
  return out;
}

async function usageOf(sessionId: string): Promise<{ calls: number; tokens: number }> {
  const [c, tk] = await redis.hmget(`${t.prefix}:policy:session:${sessionId}`, 'c', 't');
  return { calls: Number(c ?? 0), tokens: Number(tk ?? 0) };
}

async function decisionRows(): Promise<Record<string, unknown>[]> {
  return ds.query('SELECT * FROM "policy".decisions ORDER BY run_id');
}

describe('policy service', () => {
  it('answers GET /v1/policy with the active bundle', async () => {
    const res = await fetch(`${baseUrl}/v1/policy`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, string>;
    expect(body).toEqual({
      version: 'int-test.1',
      digest: parseBundle(bundleText).digest,
      activated_at: expect.any(String),
    });
    expect(Number.isNaN(Date.parse(body.activated_at!))).toBe(false);
  });

  it('turns a task_received into one signed decision_made with the run trace id and a derived id', async () => {
    const { env, decision } = await decide({
      action: { tool: 'fs.write_file', args: { path: 'prod/app.yaml', content: 'x' } },
    });
    expect(decision).toMatchObject({
      id: deriveId(env.id, 'decision_made'),
      type: 'decision_made',
      run_id: env.run_id,
      producer: 'policy',
      correlation_id: env.run_id,
      causation_id: env.id,
      trace_id: env.trace_id,
    });
    const d = Decision.parse(decision.data);
    expect(d).toMatchObject({
      outcome: 'escalate',
      tier: 3,
      mode: 'enforce',
      rule_ids: ['fs-write-prod'],
      constraints: { required_votes: 2 },
      policy_version: 'int-test.1',
      policy_digest: parseBundle(bundleText).digest,
      trace_id: env.trace_id,
    });
    // authentic under the policy's own key (its public half is enough), and only over this run's action
    const verifier = signingKeysOf(testKeyring('orchestrator'), 'policy');
    expect(
      verifyCanonical(verifier, decisionSigningPayload(env.run_id!, env.data.submission.action, d), d.signature!),
    ).toBe(true);
    const otherAction = { tool: 'fs.write_file', args: { path: 'notes/a.md', content: 'x' } };
    expect(verifyCanonical(verifier, decisionSigningPayload(env.run_id!, otherAction, d), d.signature!)).toBe(false);
    expect(
      verifyCanonical(
        verifier,
        decisionSigningPayload(env.run_id!, env.data.submission.action, { ...d, outcome: 'allow' }),
        d.signature!,
      ),
    ).toBe(false);
  });

  it('decides task_received events that ingest signed as one batch, each on its own subject', async () => {
    const batch = [received(), received(), received()];
    await testBatchPublisher(t).publishEvents(batch);
    for (const env of batch) expect((await decisionOf(env.run_id!)).data.outcome).toBe('allow');
    const stored = (
      await readAll(t.bus, t.subjects.streams.events, t.subjects.event(batch[1]!.run_id!, 'task_received'))
    )[0]!;
    expect((stored.json() as { sig: string }).sig).toMatch(/^ed25519-mt:/);
  });

  it('decides the same task_received published twice under different msg ids only once', async () => {
    const env = received({ action: { tool: 'git.push', args: { force: true } } });
    await publish(env);
    const seq = await publish(env, `${env.id}-again`);
    await settled(seq);
    const decisions = await eventsOf(env.run_id!, 'decision_made');
    expect(decisions).toHaveLength(1);
    expect(decisions[0]).toMatchObject({
      id: deriveId(env.id, 'decision_made'),
      data: { outcome: 'deny', rule_ids: ['git-force-push'] },
    });
  });

  it('escalates a session over its call budget and publishes budget_exceeded once', async () => {
    const session = `sess-calls-${newId()}`;
    const runs = [];
    for (let i = 0; i < 5; i++) runs.push(await decide({ session_id: session }));
    expect(runs.map((r) => r.decision.data.outcome)).toEqual(['allow', 'allow', 'allow', 'escalate', 'escalate']);
    expect(runs[3]!.decision.data).toMatchObject({
      tier: 2,
      rule_ids: ['fs-read', 'session-budget'],
      reasons: [expect.any(String), 'session over its max_calls budget (4 of 3)'],
    });
    const exceeded = (await Promise.all(runs.map((r) => eventsOf(r.env.run_id!, 'budget_exceeded')))).flat();
    expect(exceeded).toHaveLength(1);
    expect(exceeded[0]).toMatchObject({
      id: deriveId(runs[3]!.env.id, 'budget_exceeded', 'max_calls'),
      run_id: runs[3]!.env.run_id,
      trace_id: runs[3]!.env.trace_id,
      producer: 'policy',
      data: { session_id: session, budget: 'max_calls', used: 4, limit: 3 },
    });
    expect(await usageOf(session)).toEqual({ calls: 5, tokens: 0 });
  });

  it('escalates on the token budget, crossing it once', async () => {
    const session = `sess-tokens-${newId()}`;
    const a = await decide({ session_id: session, usage: { tokens: 600 } });
    const b = await decide({ session_id: session, usage: { tokens: 600 } });
    const c = await decide({ session_id: session, usage: { tokens: 1 } });
    expect([a, b, c].map((r) => r.decision.data.outcome)).toEqual(['allow', 'escalate', 'escalate']);
    expect(b.decision.data.reasons).toContain('session over its max_tokens budget (1200 of 1000)');
    expect(await eventsOf(b.env.run_id!, 'budget_exceeded')).toHaveLength(1);
    expect(await eventsOf(c.env.run_id!, 'budget_exceeded')).toHaveLength(0);
    expect(await usageOf(session)).toEqual({ calls: 3, tokens: 1201 });
  });

  it('publishes no decision until its usage row and input are durable; a refused write is retried and counts once', async () => {
    const session = `sess-durable-${newId()}`;
    const usageRows = async (runId: string) =>
      Number((await ds.query('SELECT count(*) AS n FROM "policy".usage WHERE run_id = $1', [runId]))[0].n);
    // Postgres refuses the batch's one statement (usage rows and inputs together)
    await ds.query(
      `CREATE OR REPLACE FUNCTION "policy".refuse_input() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected: inputs refused'; END $$`,
    );
    await ds.query(
      'CREATE TRIGGER refuse_input BEFORE INSERT ON "policy".decision_inputs FOR EACH ROW EXECUTE FUNCTION "policy".refuse_input()',
    );
    const r = received({ session_id: session, usage: { tokens: 7 } });
    try {
      await publish(r);
      await new Promise((res) => setTimeout(res, 1500));
      expect(await eventsOf(r.run_id!, 'decision_made')).toEqual([]);
      // the usage row went down with the inputs: nothing half-written
      expect(await usageRows(r.run_id!)).toBe(0);
    } finally {
      await ds.query('DROP TRIGGER IF EXISTS refuse_input ON "policy".decision_inputs');
    }
    // the redelivery decides it once, on the state before its first attempt, and both rows are there
    const d = await decisionOf(r.run_id!);
    expect(d.data.outcome).toBe('allow');
    await new Promise((res) => setTimeout(res, 300));
    expect(await eventsOf(r.run_id!, 'decision_made')).toHaveLength(1);
    expect(await usageRows(r.run_id!)).toBe(1);
    expect(await usageOf(session)).toEqual({ calls: 1, tokens: 7 });
    const stored = await ds.query('SELECT count(*) AS n FROM "policy".decision_inputs WHERE input_hash = $1', [
      d.data.input_hash,
    ]);
    expect(Number(stored[0].n)).toBe(1);
  });

  it('never double-counts a run: duplicate delivery and redelivery after a failed publish', async () => {
    const session = `sess-redeliver-${newId()}`;
    const first = await decide({ session_id: session, usage: { tokens: 10 } });
    // the same event again, as a second stream message
    await settled(await publish(first.env, `${first.env.id}-dup`));
    expect(await usageOf(session)).toEqual({ calls: 1, tokens: 10 });

    // publishing the decision fails once after the usage was recorded: JetStream redelivers
    const live = app.get<Publisher>(PUBLISHER);
    const spy = jest.spyOn(live, 'publishAll').mockRejectedValueOnce(new Error('injected publish failure'));
    const second = received({ session_id: session, usage: { tokens: 10 } });
    const seq = await publish(second);
    await waitFor(() => spy.mock.calls.length >= 2, 'the redelivered attempt');
    spy.mockRestore();
    await settled(seq);
    const d = await decisionOf(second.run_id!);
    expect(d.data.outcome).toBe('allow');
    expect(await usageOf(session)).toEqual({ calls: 2, tokens: 20 });

    // a third run is judged on exactly two earlier runs
    const third = await decide({ session_id: session, usage: { tokens: 10 } });
    const again = await decide({ session_id: session, usage: { tokens: 10 } });
    expect(third.decision.data.outcome).toBe('allow');
    expect(again.decision.data.outcome).toBe('escalate');
    // the redelivered run was judged on the usage before its first attempt, not after it
    const expected = evaluate(
      parseBundle(bundleText),
      {
        ...policyInput(second.data.submission, {
          session: { calls: 1, tokens: 10, tools: { 'fs.read_file': 1 } },
          // the same call once before in the session (loop detection counts it)
          repeats: 1,
        }),
        paths: { 'notes/a.md': { real: 'notes/a.md' } },
      },
      new Date(),
    );
    expect(d.data.input_hash).toBe(expected.input_hash);
  });

  it('projects decisions into policy.decisions, and rebuild() reproduces the same rows', async () => {
    const { env, decision } = await decide({ action: { tool: 'secrets.read', args: {} } });
    const row = await waitFor(async () => {
      const rows: Record<string, unknown>[] = await ds.query('SELECT * FROM "policy".decisions WHERE run_id = $1', [
        env.run_id,
      ]);
      return rows[0];
    }, 'decision row');
    expect(row).toMatchObject({
      run_id: env.run_id,
      outcome: 'deny',
      tier: 1,
      mode: 'enforce',
      rule_ids: ['secrets-read'],
      reasons: decision.data.reasons,
      policy_version: 'int-test.1',
      policy_digest: decision.data.policy_digest,
      input_hash: decision.data.input_hash,
      trace_id: env.trace_id,
      event_id: decision.id,
    });
    expect((row.decided_at as Date).toISOString()).toBe(decision.data.evaluated_at);

    const all = await readAll(t.bus, t.subjects.streams.events, t.subjects.eventsOfType('decision_made'));
    const before = await waitFor(async () => {
      const rows = await decisionRows();
      return rows.length === all.length ? rows : undefined;
    }, 'every decision projected');
    const [projection] = policyProjections(ds, t.bus, t.subjects, publisher);
    const position = await projection!.rebuild();
    expect(position).toBe(all[all.length - 1]!.seq);
    expect(await decisionRows()).toEqual(before);
  });

  // last: a dead letter that is not terminated would hold the consumer's ack floor for later tests
  it('dead-letters an invalid task_received and keeps processing the next one', async () => {
    const badRun = newId();
    const bad = received();
    const invalid = {
      ...bad,
      run_id: badRun,
      data: { ...bad.data, submission: { ...bad.data.submission, agent: { id: 'x' } } },
    };
    // signed as the ingest would: the policy must refuse them for what they say, not for who sent them
    await publishRaw(
      t.subjects.event(badRun, 'task_received'),
      JSON.stringify(sealAs(invalid as unknown as typeof bad)),
      newId(),
    );
    const mismatched = received();
    const otherRun = newId();
    await publishRaw(
      t.subjects.event(otherRun, 'task_received'),
      JSON.stringify(sealAs({ ...mismatched, run_id: otherRun })),
      newId(),
    );
    await publishRaw(t.subjects.event(newId(), 'task_received'), 'not json', newId());
    const next = received();
    const seq = await publish(next);
    expect((await decisionOf(next.run_id!)).data.outcome).toBe('allow');

    const dead = await waitFor(async () => {
      const msgs = await deadLetters();
      return msgs.length >= 3 ? msgs : undefined;
    }, 'three dead letters');
    expect(dead).toHaveLength(3);
    expect(dead.map((m) => m.header(Headers.dlqCode))).toEqual([
      'VALIDATION.FAILED',
      'VALIDATION.FAILED',
      'VALIDATION.FAILED',
    ]);
    // handled concurrently, so in any order
    expect(dead.map((m) => m.header(Headers.dlqReason))).toEqual(
      expect.arrayContaining([
        expect.stringContaining('data.submission.agent.role'),
        expect.stringContaining('run_id: must equal data.submission.run_id'),
        expect.stringContaining('not valid UTF-8 JSON'),
      ]),
    );
    expect(await eventsOf(badRun, 'decision_made')).toHaveLength(0);
    expect(await eventsOf(otherRun, 'decision_made')).toHaveLength(0);
    // terminated, not left to be redelivered: the consumer's ack floor passes them
    await settled(seq);
  });
});
