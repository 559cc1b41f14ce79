import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { DeliverPolicy } from '@nats-io/jetstream';
import { BusMessage, Headers, makeEnvelope, Publisher } from '@warden/bus';
import type { Envelope } from '@warden/contracts';
import { TransientError, ValidationError, deriveId, newId, newTraceId } from '@warden/kernel';
import { type ProjectedEvent, type Redis } from '@warden/persistence';
import { PUBLISHER, REDIS } from '@warden/runtime';
import { readAll, waitFor, type TestEnv, sealAs } from '@warden/testing';
import { startPolicyWorld, received, type PolicyWorld } from './support/policy-world';
import { parseBundle, type LoadedBundle, evaluate, policyInput } from '@warden/policy-language';
import { DecisionService } from '../src/decision/decision.service';
import { DecisionProjection } from '../src/decision/projections/decision.projection';
import { PolicyStateStore, type StateRequest } from '../src/usage/policy-state.store';
import { DurablePolicyStateStore } from '../src/usage/durable-policy-state.store';

const CONSUMER = 'policy-task-received';

let t: TestEnv;
let app: INestApplication;
let ds: DataSource;
let redis: Redis;
let world: PolicyWorld;
let policy: LoadedBundle;

beforeAll(async () => {
  world = await startPolicyWorld('int-batch.1');
  ({ t, app, ds, redis } = world);
  policy = parseBundle(world.bundleText);
});

afterAll(async () => {
  jest.restoreAllMocks();
  await world?.close();
});

afterEach(() => jest.restoreAllMocks());

function sessionKey(sessionId: string): string {
  return `${t.prefix}:policy:session:${sessionId}`;
}

async function usageOf(sessionId: string): Promise<{ calls: number; tokens: number }> {
  const [c, tk] = await redis.hmget(sessionKey(sessionId), 'c', 't');
  return { calls: Number(c ?? 0), tokens: Number(tk ?? 0) };
}

async function eventsOf(runId: string, type: string): Promise<Envelope[]> {
  return (await readAll(t.bus, t.subjects.streams.events, t.subjects.event(runId, type))).map(
    (m) => m.json() as Envelope,
  );
}

/** Waits until the policy consumer has acked (or dead-lettered) everything up to `seq`. */
async function settled(seq: number): Promise<void> {
  await waitFor(async () => {
    const info = await t.bus.jsm.consumers.info(t.subjects.streams.events, CONSUMER);
    return info.ack_floor.stream_seq >= seq && info.num_ack_pending === 0;
  }, `policy consumer to settle seq ${seq}`);
}

/** The policy consumer's dead letters for the given stream sequences, by sequence. */
async function deadLettersFor(seqs: number[]): Promise<Map<number, BusMessage>> {
  const consumer = await t.bus.js.consumers.get(t.subjects.streams.deadLetters, {
    filter_subjects: t.subjects.deadLetter('policy', 'task-received'),
    deliver_policy: DeliverPolicy.All,
  });
  const out = new Map<number, BusMessage>();
  if ((await consumer.info(true)).num_pending === 0) return out;
  const iter = await consumer.consume({ max_messages: 500 });
  for await (const m of iter) {
    const msg = new BusMessage(m);
    const seq = Number(msg.header(Headers.dlqStreamSeq));
    if (seqs.includes(seq)) out.set(seq, msg);
    if (m.info.pending === 0) break;
  }
  await iter.close().catch(() => undefined);
  return out;
}

/** One message of a burst: what is published and under which Nats-Msg-Id. */
type Outgoing = { subject: string; body: string; msgId: string };

/** As its producer would publish it: signed (after any change a test makes, so invalid ones reach validation). */
function asOutgoing(env: Envelope, msgId = env.id): Outgoing {
  return { subject: t.subjects.event(env.run_id!, env.type), body: JSON.stringify(sealAs(env)), msgId };
}

/** Publishes every message at once (pipelined) and returns their stream sequences, in order. */
async function burst(msgs: Outgoing[]): Promise<number[]> {
  const acks = await Promise.all(msgs.map((m) => t.bus.js.publish(m.subject, m.body, { msgID: m.msgId })));
  return acks.map((a) => a.seq);
}

/** The input_hash a run gets when judged on `before`. */
function hashFor(env: Envelope<'task_received'>, before: { calls: number; tokens: number } | null): string {
  const session = before && {
    ...before,
    tools: before.calls ? { [env.data.submission.action.tool]: before.calls } : {},
  };
  // the workspace is empty: the read's path resolves to itself, and that is part of the input
  // every run of these sessions is the same call: each earlier one is a repeat
  const input = {
    ...policyInput(env.data.submission, { session, repeats: before?.calls }),
    paths: { 'notes/a.md': { real: 'notes/a.md' } },
  };
  return evaluate(policy, input, new Date()).input_hash;
}

/** A store request for a run of `sessionId` (fs.read_file, no rate limit, no agent budget). */
function req(sessionId: string, runId: string, tokens: number): StateRequest {
  return {
    runId,
    sessionId,
    agentId: 'agent-7',
    tool: 'fs.read_file',
    tokens,
    costUsd: 0,
    host: '',
    fingerprint: 'fp',
    rate: null,
    trackAgent: false,
    sessionTtl: 3600,
    agentTtl: 3600,
  };
}

/** The session part of a stored state: counters and a fs.read_file history. */
const snap = (calls: number, tokens: number) =>
  expect.objectContaining({
    session: { calls, tokens, cost_usd: 0, tools: calls ? { 'fs.read_file': calls } : {}, hosts: [] },
  });

describe('PolicyStateStore.recordAll', () => {
  it('counts runs of one session in the given order, each once, and answers each with its own snapshot', async () => {
    const store = app.get(PolicyStateStore);
    const a = `sess-a-${newId()}`;
    const b = `sess-b-${newId()}`;
    const [r1, r2, r3, r4] = [newId(), newId(), newId(), newId()];
    const out = await store.recordAll([
      req(a, r1, 10),
      req(b, r2, 5),
      req(a, r3, 20),
      req(a, r1, 10), // the same run again, in the same call
      req(a, r4, 7.9),
    ]);
    expect(out).toEqual([snap(0, 0), snap(0, 0), snap(1, 10), snap(0, 0), snap(2, 30)]);
    expect(await usageOf(a)).toEqual({ calls: 3, tokens: 37 });
    expect(await usageOf(b)).toEqual({ calls: 1, tokens: 5 });
    const ttl = await redis.ttl(sessionKey(a));
    expect(ttl).toBeGreaterThan(3500);

    // replayed later (redelivery): the stored snapshots, nothing counted again
    const again = await store.recordAll([req(a, r3, 20), req(a, r1, 10)]);
    expect(again).toEqual([snap(1, 10), snap(0, 0)]);
    expect(await usageOf(a)).toEqual({ calls: 3, tokens: 37 });
  });

  it('a session Redis refuses fails only its own entries, as transient errors', async () => {
    const store = app.get(PolicyStateStore);
    const broken = `sess-broken-${newId()}`;
    const fine = `sess-fine-${newId()}`;
    await redis.set(sessionKey(broken), 'not a hash');
    const out = await store.recordAll([req(broken, newId(), 1), req(fine, newId(), 1), req(broken, newId(), 1)]);
    expect(out[0]).toBeInstanceOf(TransientError);
    expect((out[0] as TransientError).message).toMatch(/recording policy state failed: .*WRONGTYPE/);
    expect(out[2]).toBeInstanceOf(TransientError);
    expect(out[1]).toEqual(snap(0, 0));
    expect(await usageOf(fine)).toEqual({ calls: 1, tokens: 1 });
    await redis.del(sessionKey(broken));
  });
});

describe('DurablePolicyStateStore: the epoch check rides in the judge script', () => {
  it('costs no read of its own; with the counters gone nothing is counted before the rebuild, then each run once', async () => {
    const store = app.get(PolicyStateStore) as DurablePolicyStateStore;
    expect(store).toBeInstanceOf(DurablePolicyStateStore);
    const appRedis = app.get<Redis>(REDIS);
    await store.recordAll([req(`sess-warm-${newId()}`, newId(), 1)]); // the epoch is written once
    const gets = jest.spyOn(appRedis, 'get');
    const rebuild = jest.spyOn(store, 'rebuild');
    await store.recordAll([req(`sess-fast-${newId()}`, newId(), 1)]);
    expect(gets).not.toHaveBeenCalled();
    expect(rebuild).not.toHaveBeenCalled();

    // Redis lost the counters (a flush, an empty restart): the epoch key is gone
    await redis.del(store.epochKey());
    const lost = `sess-lost-${newId()}`;
    const run = newId();
    let atRebuild: { calls: number; tokens: number } | undefined;
    rebuild.mockImplementationOnce(async function (this: DurablePolicyStateStore) {
      atRebuild = await usageOf(lost);
      rebuild.mockRestore();
      return store.rebuild();
    });
    const out = await store.recordAll([req(lost, run, 4)]);
    expect(atRebuild).toEqual({ calls: 0, tokens: 0 }); // the script refused to count into the empty Redis
    expect(out).toEqual([snap(0, 0)]);
    expect(await usageOf(lost)).toEqual({ calls: 1, tokens: 4 });
    expect(await redis.get(store.epochKey())).toBeTruthy();
    // the same run again: its stored snapshot, not counted twice
    expect(await store.recordAll([req(lost, run, 4)])).toEqual([snap(0, 0)]);
    expect(await usageOf(lost)).toEqual({ calls: 1, tokens: 4 });
  });
});

describe('DecisionService.decideAll', () => {
  it('judges a batch in order: same-session runs see each other, a mismatched run_id fails alone', async () => {
    const decisions = app.get(DecisionService);
    const session = `sess-decide-${newId()}`;
    const runs = [0, 1, 2, 3].map(() => received({ session_id: session, usage: { tokens: 100 } }));
    const good = received();
    const bad = received();
    const mismatched = { ...bad, run_id: newId() };
    const results = await decisions.decideAll([runs[0]!, runs[1]!, mismatched, runs[2]!, good, runs[0]!, runs[3]!]);

    expect(results[2]).toBeInstanceOf(ValidationError);
    expect((results[2] as ValidationError).errors).toEqual([
      { path: 'run_id', message: `must equal data.submission.run_id (${bad.run_id})` },
    ]);
    const ok = results.filter((r): r is Envelope[] => !(r instanceof Error));
    expect(ok).toHaveLength(6);
    const decisionOf = (i: number) => (results[i] as Envelope[])[0] as Envelope<'decision_made'>;
    // stream order within the batch: 0, 1, 2 earlier runs; the repeated run keeps its first snapshot
    expect(decisionOf(0).data.input_hash).toBe(hashFor(runs[0]!, { calls: 0, tokens: 0 }));
    expect(decisionOf(1).data.input_hash).toBe(hashFor(runs[1]!, { calls: 1, tokens: 100 }));
    expect(decisionOf(3).data.input_hash).toBe(hashFor(runs[2]!, { calls: 2, tokens: 200 }));
    expect(decisionOf(5).id).toBe(decisionOf(0).id);
    expect(decisionOf(5).data.input_hash).toBe(decisionOf(0).data.input_hash);
    expect(decisionOf(6).data).toMatchObject({ outcome: 'escalate', rule_ids: ['fs-read', 'session-budget'] });
    expect(decisionOf(6).data.input_hash).toBe(hashFor(runs[3]!, { calls: 3, tokens: 300 }));
    // the fourth run crosses max_calls (3): its events are the decision and one budget_exceeded
    expect((results[6] as Envelope[]).map((e) => e.type)).toEqual(['decision_made', 'budget_exceeded']);
    expect((results[6] as Envelope[])[1]!.id).toBe(deriveId(runs[3]!.id, 'budget_exceeded', 'max_calls'));
    expect(decisionOf(4).data.input_hash).toBe(hashFor(good, null));
    expect(await usageOf(session)).toEqual({ calls: 4, tokens: 400 });
  });
});

describe('policy-task-received in batch mode', () => {
  it('settles a burst of valid, duplicate and invalid messages each on its own', async () => {
    const live = app.get<Publisher>(PUBLISHER);
    const decisions = app.get(DecisionService);
    const batchSizes = jest.spyOn(decisions, 'decideAll');
    // hold the first batch at its publish so the rest of the burst queues up behind it
    const publishAll = live.publishAll.bind(live);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let held = false;
    jest.spyOn(live, 'publishAll').mockImplementation(async (msgs) => {
      if (!held) {
        held = true;
        await gate;
      }
      return publishAll(msgs);
    });

    const a = `sess-burst-a-${newId()}`;
    const b = `sess-burst-b-${newId()}`;
    const aRuns = [0, 1, 2, 3, 4].map(() => received({ session_id: a, usage: { tokens: 10 } }));
    const bRuns = [0, 1, 2].map(() => received({ session_id: b, usage: { tokens: 400 } }));
    const loose = [0, 1, 2, 3].map(() =>
      received({ action: { tool: 'git.push', args: { force: true } }, agent: { id: 'x', role: 'dev' } }),
    );
    const invalidSchema = received();
    const mismatched = received();
    const wrongType = makeEnvelope({
      type: 'budget_exceeded',
      runId: newId(),
      producer: 'test',
      traceId: newTraceId(),
      data: { session_id: 's', budget: 'max_calls', used: 4, limit: 3 },
    });
    const notJsonRun = newId();
    const otherRun = newId();
    const invalid: { out: Outgoing; reason: string; runId: string }[] = [
      {
        out: asOutgoing({
          ...invalidSchema,
          data: { ...invalidSchema.data, submission: { ...invalidSchema.data.submission, agent: { id: 'x' } } },
        } as Envelope),
        reason: 'data.submission.agent.role',
        runId: invalidSchema.run_id!,
      },
      {
        // the envelope names another run than its submission
        out: asOutgoing({ ...mismatched, run_id: otherRun }),
        reason: 'run_id: must equal data.submission.run_id',
        runId: otherRun,
      },
      {
        out: { ...asOutgoing(wrongType), subject: t.subjects.event(wrongType.run_id!, 'task_received') },
        reason: 'expected task_received, got budget_exceeded',
        runId: wrongType.run_id!,
      },
      {
        out: { subject: t.subjects.event(notJsonRun, 'task_received'), body: '{"id":', msgId: newId() },
        reason: 'not valid UTF-8 JSON',
        runId: notJsonRun,
      },
    ];
    // interleaved: sessions A and B alternate, invalid ones and duplicates in between
    const msgs: Outgoing[] = [
      asOutgoing(aRuns[0]!),
      asOutgoing(bRuns[0]!),
      invalid[0]!.out,
      asOutgoing(aRuns[1]!),
      asOutgoing(aRuns[1]!, `${aRuns[1]!.id}-dup`),
      asOutgoing(loose[0]!),
      asOutgoing(bRuns[1]!),
      invalid[1]!.out,
      asOutgoing(aRuns[2]!),
      asOutgoing(loose[1]!),
      asOutgoing(aRuns[3]!),
      invalid[2]!.out,
      asOutgoing(bRuns[2]!),
      asOutgoing(loose[2]!),
      asOutgoing(bRuns[0]!, `${bRuns[0]!.id}-dup`),
      invalid[3]!.out,
      asOutgoing(aRuns[4]!),
      asOutgoing(loose[3]!),
    ];
    const seqs = await burst(msgs);
    await waitFor(() => held, 'the first batch to reach its publish');
    release();
    await settled(Math.max(...seqs));

    // batches really formed: at least one held more than a message
    expect(Math.max(...batchSizes.mock.calls.map(([envs]) => envs.length))).toBeGreaterThan(1);

    // every valid run: exactly one decision, with the derived id
    for (const env of [...aRuns, ...bRuns, ...loose]) {
      const ds_ = await eventsOf(env.run_id!, 'decision_made');
      expect(ds_).toHaveLength(1);
      expect(ds_[0]!.id).toBe(deriveId(env.id, 'decision_made'));
      expect(ds_[0]!.trace_id).toBe(env.trace_id);
    }
    for (const env of loose) {
      expect((await eventsOf(env.run_id!, 'decision_made'))[0]!.data).toMatchObject({
        outcome: 'deny',
        rule_ids: ['git-force-push'],
      });
    }
    // each session's runs judged in stream order, duplicates not counted
    for (const [i, env] of aRuns.entries()) {
      const d = (await eventsOf(env.run_id!, 'decision_made'))[0] as Envelope<'decision_made'>;
      expect(d.data.input_hash).toBe(hashFor(env, { calls: i, tokens: 10 * i }));
      expect(d.data.outcome).toBe(i < 3 ? 'allow' : 'escalate');
    }
    for (const [i, env] of bRuns.entries()) {
      const d = (await eventsOf(env.run_id!, 'decision_made'))[0] as Envelope<'decision_made'>;
      expect(d.data.input_hash).toBe(hashFor(env, { calls: i, tokens: 400 * i }));
    }
    expect(await usageOf(a)).toEqual({ calls: 5, tokens: 50 });
    expect(await usageOf(b)).toEqual({ calls: 3, tokens: 1200 });
    // budgets crossed once each: A's calls at its 4th run, B's tokens at its 3rd
    const exceeded = (
      await Promise.all([...aRuns, ...bRuns].map((e) => eventsOf(e.run_id!, 'budget_exceeded')))
    ).flat();
    expect(exceeded.map((e) => [e.run_id, (e.data as { budget: string }).budget])).toEqual([
      [aRuns[3]!.run_id, 'max_calls'],
      [bRuns[2]!.run_id, 'max_tokens'],
    ]);

    // exactly the invalid messages were dead-lettered, each with its own reason
    const invalidSeqs = [2, 7, 11, 15].map((i) => seqs[i]!);
    const dead = await waitFor(async () => {
      const m = await deadLettersFor(seqs);
      return m.size >= invalid.length ? m : undefined;
    }, 'the dead letters of the burst');
    expect([...dead.keys()].sort((x, y) => x - y)).toEqual(invalidSeqs);
    invalid.forEach((inv, k) => {
      const dl = dead.get(invalidSeqs[k]!)!;
      expect(dl.header(Headers.dlqCode)).toBe('VALIDATION.FAILED');
      expect(dl.header(Headers.dlqReason)).toContain(inv.reason);
    });
    for (const runId of [...invalid.map((i) => i.runId), mismatched.run_id!, invalidSchema.run_id!])
      expect(await eventsOf(runId, 'decision_made')).toHaveLength(0);

    // and the read model has one row per valid run
    const runIds = [...aRuns, ...bRuns, ...loose].map((e) => e.run_id!);
    await waitFor(async () => {
      const rows: unknown[] = await ds.query('SELECT run_id FROM "policy".decisions WHERE run_id = ANY($1::uuid[])', [
        runIds,
      ]);
      return rows.length === runIds.length;
    }, 'a decision row for every valid run of the burst');
  });

  it('retries only the messages whose session Redis refused; the rest of the batch is decided', async () => {
    const broken = `sess-refused-${newId()}`;
    await redis.set(sessionKey(broken), 'not a hash');
    const refused = [0, 1, 2].map(() => received({ session_id: broken, usage: { tokens: 1 } }));
    const others = [0, 1, 2, 3, 4].map(() => received({ session_id: `sess-ok-${newId()}` }));
    const seqs = await burst([...refused, ...others].map((e) => asOutgoing(e)));

    for (const env of others) {
      await waitFor(async () => (await eventsOf(env.run_id!, 'decision_made')).length === 1, 'the healthy runs');
    }
    for (const env of refused) expect(await eventsOf(env.run_id!, 'decision_made')).toHaveLength(0);
    const info = await t.bus.jsm.consumers.info(t.subjects.streams.events, CONSUMER);
    expect(info.num_ack_pending + info.num_redelivered).toBeGreaterThan(0);

    // Redis recovers: the naked messages come back and are decided, each once
    await redis.del(sessionKey(broken));
    await settled(Math.max(...seqs));
    for (const env of refused) expect(await eventsOf(env.run_id!, 'decision_made')).toHaveLength(1);
    expect(await usageOf(broken)).toEqual({ calls: 3, tokens: 3 });
    // redeliveries come back in any order, but every run got its own snapshot
    const seen = await Promise.all(
      refused.map(async (env) => {
        const d = (await eventsOf(env.run_id!, 'decision_made'))[0] as Envelope<'decision_made'>;
        const k = [0, 1, 2].find((i) => d.data.input_hash === hashFor(env, { calls: i, tokens: i }));
        return k;
      }),
    );
    expect([...seen].sort()).toEqual([0, 1, 2]);
  });
});

describe('DecisionProjection', () => {
  it('writes a whole batch with one statement, first decision per run winning', async () => {
    const runIds = Array.from({ length: 300 }, () => newId());
    const env = (runId: string, outcome: 'allow' | 'deny', trigger = newId()): Envelope<'decision_made'> =>
      makeEnvelope({
        type: 'decision_made',
        runId,
        producer: 'policy',
        traceId: newTraceId(),
        causationId: trigger,
        data: {
          outcome,
          tier: 1,
          mode: 'enforce',
          rule_ids: [outcome === 'allow' ? 'fs-read' : 'secrets-read'],
          reasons: ['because "quoted" é'],
          constraints: {},
          policy_version: 'v',
          policy_digest: `sha256:${'c'.repeat(64)}`,
          input_hash: `sha256:${'d'.repeat(64)}`,
          evaluated_at: '2026-11-21T10:00:00.123Z',
          trace_id: 'ab'.repeat(16),
        },
      });
    const events = runIds.map((r) => env(r, 'allow'));
    const later = env(runIds[7]!, 'deny');
    const batch = [...events, later].map((e) => ({ env: e }) as unknown as ProjectedEvent);
    const projection = new DecisionProjection();
    let statements = 0;
    await ds.transaction(async (em) => {
      const query = em.query.bind(em);
      jest.spyOn(em, 'query').mockImplementation((sql: string, params?: unknown[]) => {
        statements++;
        return query(sql, params);
      });
      await projection.apply(batch, em);
    });
    expect(statements).toBe(1);
    const rows: { run_id: string; outcome: string; rule_ids: string[]; reasons: unknown; event_id: string }[] =
      await ds.query('SELECT * FROM "policy".decisions WHERE run_id = ANY($1::uuid[])', [runIds]);
    expect(rows).toHaveLength(300);
    const seventh = rows.find((r) => r.run_id === runIds[7])!;
    expect(seventh).toMatchObject({
      outcome: 'allow',
      rule_ids: ['fs-read'],
      reasons: ['because "quoted" é'],
      event_id: events[7]!.id,
    });
    // replaying the batch changes nothing
    await ds.transaction((em) => projection.apply(batch, em));
    const byRun = (xs: { run_id: string }[]) => [...xs].sort((x, y) => x.run_id.localeCompare(y.run_id));
    expect(byRun(await ds.query('SELECT * FROM "policy".decisions WHERE run_id = ANY($1::uuid[])', [runIds]))).toEqual(
      byRun(rows),
    );
  });
});
