/* eslint-disable @typescript-eslint/no-explicit-any -- the tests edit parsed YAML freely */
import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import { parse, stringify } from 'yaml';
import { headers as natsHeaders } from '@nats-io/nats-core';
import { Publisher, makeEnvelope } from '@warden/bus';
import { Decision, type Envelope, type TaskSubmission } from '@warden/contracts';
import { randomBytes } from 'node:crypto';
import { Kvm } from '@nats-io/kv';
import { loadSigningKeys, newId, newTraceId, signCanonical } from '@warden/kernel';
import type { Redis } from '@warden/persistence';
import { newSecret, secretHash } from '@warden/identity';
import { readAll, waitFor, type TestEnv, testPublisher, forgeAs } from '@warden/testing';
import { ADMIN_TOKEN, startPolicyWorld, received, type PolicyWorld } from './support/policy-world';
import { parseBundle, type LoadedBundle, evaluate } from '@warden/policy-language';
import { DecisionService } from '../src/decision/decision.service';
import { policyBucket } from '../src/bundle/bundle.registry';

let world: PolicyWorld;
let t: TestEnv;
let app: INestApplication;
let replica: INestApplication;
let redis: Redis;
let publisher: Publisher;
let url: string;
let replicaUrl: string;
let baseRaw: Record<string, unknown>;
let apiKey: string;

const urlOf = (a: INestApplication) => `http://127.0.0.1:${(a.getHttpServer().address() as AddressInfo).port}`;
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

beforeAll(async () => {
  world = await startPolicyWorld('int-lang.1');
  ({ t, app, redis } = world);
  publisher = testPublisher(t);
  url = urlOf(app);
  replica = await world.startReplica();
  replicaUrl = urlOf(replica);
  baseRaw = parse(world.bundleText) as Record<string, unknown>;
  apiKey = newSecret('wk');
  const keyId = newId();
  await publisher.publishEvent(
    makeEnvelope({
      type: 'api_key_created',
      runId: null,
      correlationId: keyId,
      producer: 'test',
      traceId: newTraceId(),
      data: { key_id: keyId, name: 'ci', owner: 'tests', key_hash: secretHash(apiKey), created_by: 'test' },
    }),
  );
});

afterAll(async () => {
  await world?.close();
});

/** The bundle text of the test world with edits. */
function variant(version: string, edit: (raw: Record<string, any>) => void = () => undefined): string {
  const raw = structuredClone(baseRaw) as Record<string, any>;
  raw.version = version;
  edit(raw);
  return stringify(raw);
}

async function put(text: string, headers: Record<string, string> = admin, base = url): Promise<Response> {
  return fetch(`${base}/v1/policy`, {
    method: 'PUT',
    headers: { 'content-type': 'application/yaml', ...headers },
    body: text,
  });
}

/** Back to the world's bundle, on both replicas. */
async function restore(): Promise<void> {
  expect((await put(world.bundleText)).status).toBe(200);
  const digest = parseBundle(world.bundleText).digest;
  await waitFor(async () => (await activeDigest(replicaUrl)) === digest, 'the replica back on the world bundle');
}

/** Activations refused in this process (every replica in it counts its own refusals). */
async function forgedActivations(): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith('warden_security_forged_policy_activations_total{'))
    .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
}

async function activeDigest(base: string): Promise<string> {
  return ((await (await fetch(`${base}/v1/policy`)).json()) as { digest: string }).digest;
}

async function decisionOf(runId: string): Promise<Envelope<'decision_made'>> {
  return waitFor(async () => {
    const msgs = await readAll(t.bus, t.subjects.streams.events, t.subjects.event(runId, 'decision_made'));
    return msgs[0]?.json() as Envelope<'decision_made'> | undefined;
  }, `decision for ${runId}`);
}

/** The failure counters of a session's loop hash (its `r:` fields count repeated proposals). */
function failuresIn(h: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).filter(([k]) => !k.startsWith('r:')));
}

async function decide(
  s: Partial<TaskSubmission>,
): Promise<{ env: Envelope<'task_received'>; d: Envelope<'decision_made'> }> {
  const env = received(s);
  await publisher.publishEvent(env);
  return { env, d: await decisionOf(env.run_id!) };
}

describe('bundles: push, distribute, roll back', () => {
  it('PUT /v1/policy needs an admin token', async () => {
    expect((await put(variant('x'), {})).status).toBe(401);
    const res = await put(variant('x'), { authorization: `Bearer ${apiKey}` });
    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
  });

  it('refuses an invalid bundle with 400 and every error (path, line), keeping the active one', async () => {
    const before = await activeDigest(url);
    const text = variant('broken', (raw) => {
      raw.rules[0].if = 'args.x >';
      raw.rules[1].outcome = 'maybe';
    });
    const res = await put(text);
    expect(res.status).toBe(400);
    const body = (await res.json()) as { status: number; errors: { path: string; message: string }[] };
    expect(body.status).toBe(400);
    expect(body.errors).toEqual(
      expect.arrayContaining([{ path: 'rules.1.outcome', message: expect.stringMatching(/\(line \d+\)$/) }]),
    );
    // zod errors come first; CEL is compiled only for a bundle that passes the schema
    const only = await put(variant('broken-cel', (raw) => (raw.rules[0].if = 'args.x >')));
    expect(((await only.json()) as { errors: unknown[] }).errors).toEqual([
      { path: 'rules.0.if', message: expect.stringMatching(/^CEL: Unexpected token.*\(line \d+\)$/) },
    ]);
    expect(await activeDigest(url)).toBe(before);
  });

  it('activates a pushed bundle on every replica within 1 s, and rolls back by digest', async () => {
    const first = await activeDigest(url);
    const text = variant('pushed.2', (raw) => {
      raw.rules.unshift({ id: 'no-reads', tools: ['fs.read_file'], outcome: 'deny', reason: 'reads are off' });
    });
    const started = Date.now();
    const res = await put(text);
    expect(res.status).toBe(200);
    const info = (await res.json()) as { version: string; digest: string };
    expect(info).toMatchObject({ version: 'pushed.2', digest: parseBundle(text).digest });
    await waitFor(async () => (await activeDigest(replicaUrl)) === info.digest, 'the replica to switch', 1000, 10);
    expect(Date.now() - started).toBeLessThan(1000 + 500);
    // both replicas judge by it
    for (const a of [app, replica]) {
      const d = await a
        .get(DecisionService)
        .dryRun(
          { agent: { id: 'a', role: 'dev' }, action: { tool: 'fs.read_file', args: { path: 'x' } } },
          newTraceId(),
        );
      expect(d).toMatchObject({ outcome: 'deny', rule_ids: ['no-reads'], policy_digest: info.digest });
    }
    const list = (await (await fetch(`${url}/v1/policy/bundles`, { headers: admin })).json()) as {
      digest: string;
      active: boolean;
    }[];
    expect(list.map((b) => b.digest)).toEqual(expect.arrayContaining([first, info.digest]));
    expect(list.find((b) => b.active)!.digest).toBe(info.digest);

    const back = await fetch(`${url}/v1/policy/active`, {
      method: 'PUT',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ digest: first }),
    });
    expect(back.status).toBe(200);
    await waitFor(async () => (await activeDigest(replicaUrl)) === first, 'the replica to roll back', 1000, 10);
    const unknown = await fetch(`${url}/v1/policy/active`, {
      method: 'PUT',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ digest: `sha256:${'0'.repeat(64)}` }),
    });
    expect(unknown.status).toBe(404);
  });

  it('an activation put in the KV bucket by anyone but the policy, or replayed from its history, activates nothing', async () => {
    const pushed = variant('kv.forged', (raw) =>
      raw.rules.unshift({ id: 'forged-reads', tools: ['fs.read_file'], outcome: 'allow', reason: 'forged' }),
    );
    expect((await put(pushed)).status).toBe(200);
    const target = parseBundle(pushed).digest;
    await waitFor(async () => (await activeDigest(replicaUrl)) === target, 'the replica on the pushed bundle');
    await restore();
    const home = parseBundle(world.bundleText).digest;
    const kv = await new Kvm(t.bus.js).open(policyBucket(t.subjects));
    // the pushed bundle's own, genuinely signed activation, from the bucket's history
    const history: { json<T>(): T }[] = [];
    for await (const e of await kv.history({ key: 'active' })) history.push(e);
    const replayed = history
      .map((e) => e.json<{ digest: string; sig?: string }>())
      .find((p) => p.digest === target && p.sig)!;
    expect(replayed).toBeDefined();
    const mallory = loadSigningKeys(randomBytes(32).toString('base64'), undefined);
    const fresh = {
      digest: target,
      version: 'kv.forged',
      activated_at: new Date().toISOString(),
      activated_by: 'mallory',
    };
    const metricBefore = await forgedActivations();
    for (const pointer of [
      fresh, // unsigned
      { ...fresh, sig: signCanonical(mallory, { ...fresh, bucket: policyBucket(t.subjects) }) }, // another key
      replayed, // genuine but older than the active one
    ]) {
      await kv.put('active', JSON.stringify(pointer));
    }
    await waitFor(async () => (await forgedActivations()) >= metricBefore + 6, 'each refused on both replicas');
    expect(await activeDigest(url)).toBe(home);
    expect(await activeDigest(replicaUrl)).toBe(home);
    // and a replica that starts now, finding a forged pointer, activates its own bundle file over it
    const late = await world.startReplica();
    expect(await activeDigest(urlOf(late))).toBe(home);
    await late.close();
  });

  it('hot swap under load: every decision is made entirely under one of the bundles', async () => {
    const a = variant('swap.a', (raw) =>
      raw.rules.unshift({ id: 'a-reads', tools: ['fs.read_file'], outcome: 'deny', reason: 'A' }),
    );
    const b = variant('swap.b', (raw) =>
      raw.rules.unshift({ id: 'b-reads', tools: ['fs.read_file'], outcome: 'escalate', tier: 2, reason: 'B' }),
    );
    const bundles = new Map<string, LoadedBundle>(
      [a, b, world.bundleText].map((x) => [parseBundle(x).digest, parseBundle(x)]),
    );
    const envs = Array.from({ length: 120 }, () => received());
    const publishing = (async () => {
      for (const [i, e] of envs.entries()) {
        await publisher.publishEvent(e);
        if (i % 10 === 0) await new Promise((r) => setTimeout(r, 5));
      }
    })();
    for (let i = 0; i < 6; i++) expect((await put(i % 2 ? a : b)).status).toBe(200);
    await publishing;
    const digests = new Set<string>();
    for (const e of envs) {
      const d = (await decisionOf(e.run_id!)).data;
      const used = bundles.get(d.policy_digest);
      expect(used).toBeDefined();
      digests.add(d.policy_digest);
      // recomputed under the bundle the decision names: the same outcome, rules and reasons
      const again = evaluate(
        used!,
        {
          agent: { id: 'agent-7', role: 'dev' },
          session_id: null,
          action: e.data.submission.action,
          usage: null,
          session_usage: null,
          agent_usage: null,
          rate: null,
          failures: 0,
          standing: [],
        },
        new Date(),
      );
      expect([d.outcome, d.rule_ids, d.reasons, d.policy_version]).toEqual([
        again.outcome,
        again.rule_ids,
        again.reasons,
        used!.bundle.version,
      ]);
    }
    expect(digests.size).toBeGreaterThan(1);
    await restore();
  });
});

describe('dry runs', () => {
  const submission = (sessionId: string) => ({
    agent: { id: 'agent-dry', role: 'dev' },
    session_id: sessionId,
    action: { tool: 'git.push', args: { branch: 'x' } },
    usage: { tokens: 5 },
  });

  it('POST /v1/evaluate returns the decision and changes nothing', async () => {
    const session = `sess-dry-${newId()}`;
    const res = await fetch(`${url}/v1/evaluate`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${apiKey}`,
        'content-type': 'application/json',
        traceparent: `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-01`,
      },
      body: JSON.stringify(submission(session)),
    });
    expect(res.status).toBe(200);
    const d = Decision.parse(await res.json());
    expect(d).toMatchObject({ outcome: 'escalate', tier: 2, rule_ids: ['git-push'], trace_id: 'ab'.repeat(16) });
    expect(d.signature).toBeUndefined();
    expect(await redis.exists(`${t.prefix}:policy:session:${session}`)).toBe(0);
    expect(
      (
        await fetch(`${url}/v1/evaluate`, {
          method: 'POST',
          body: '{}',
          headers: { 'content-type': 'application/json' },
        })
      ).status,
    ).toBe(401);
  });

  it('POST /v1/evaluate refuses an invalid submission with field paths', async () => {
    const res = await fetch(`${url}/v1/evaluate`, {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ agent: { id: 'a' }, action: { tool: 'Bad Tool' } }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { errors: { path: string }[] };
    expect(body.errors.map((e) => e.path)).toEqual(expect.arrayContaining(['agent.role', 'action.tool']));
  });

  it('answers warden.policy.evaluate with the Decision, or a problem object', async () => {
    const h = natsHeaders();
    h.set('traceparent', `00-${'ef'.repeat(16)}-${'cd'.repeat(8)}-01`);
    const reply = await t.bus.nc.request(t.subjects.policyEvaluate, JSON.stringify(submission('s-bus')), {
      timeout: 5000,
      headers: h,
    });
    expect(Decision.parse(reply.json())).toMatchObject({ outcome: 'escalate', trace_id: 'ef'.repeat(16) });
    const bad = await t.bus.nc.request(t.subjects.policyEvaluate, JSON.stringify({ agent: {} }), { timeout: 5000 });
    expect(bad.json()).toMatchObject({
      type: 'urn:warden:error:VALIDATION.FAILED',
      title: 'VALIDATION.FAILED',
      status: 400,
      errors: expect.arrayContaining([{ path: 'agent.id', message: expect.any(String) }]),
    });
    const junk = await t.bus.nc.request(t.subjects.policyEvaluate, 'not json', { timeout: 5000 });
    expect(junk.json()).toMatchObject({
      status: 400,
      errors: [{ path: '', message: expect.stringMatching(/^body is not valid JSON/) }],
    });
    expect(await redis.exists(`${t.prefix}:policy:session:s-bus`)).toBe(0);
  });
});

describe('state across runs', () => {
  it('standing approvals from the directory allow what they cover, recorded in the input', async () => {
    const standingId = newId();
    await publisher.publishEvent(
      makeEnvelope({
        type: 'standing_approval_granted',
        runId: null,
        correlationId: standingId,
        producer: 'test',
        traceId: newTraceId(),
        data: {
          standing_id: standingId,
          approval_id: newId(),
          scope: 'agent',
          agent_id: 'agent-standing',
          tool: 'git.push',
          max_tier: 2,
          expires_at: new Date(Date.now() + 3600_000).toISOString(),
          granted_by: ['op-1'],
        },
      }),
    );
    const sub = { agent: { id: 'agent-standing', role: 'dev' }, action: { tool: 'git.push', args: { branch: 'x' } } };
    await waitFor(
      async () => (await app.get(DecisionService).dryRun(sub, newTraceId())).outcome === 'allow',
      'the directory to apply the grant',
    );
    const { d } = await decide(sub);
    expect(d.data).toMatchObject({ outcome: 'allow', rule_ids: ['git-push', `standing:${standingId}`] });
    const { d: other } = await decide({ ...sub, action: { tool: 'pr.open', args: {} } });
    expect(other.data.outcome).toBe('escalate');
  });

  it('sequence-aware: after secrets or an untrusted fetch in the session, email.send needs two approvers', async () => {
    const agent = { id: 'agent-seq', role: 'outreach' };
    const email = { tool: 'email.send', args: { to: 'a@example.com' } };
    const clean = `sess-clean-${newId()}`;
    await decide({ agent, session_id: clean, action: { tool: 'http.get', args: { url: 'https://github.com/x' } } });
    expect((await decide({ agent, session_id: clean, action: email })).d.data).toMatchObject({
      outcome: 'escalate',
      tier: 2,
      rule_ids: ['email-send'],
    });
    const tainted = `sess-tainted-${newId()}`;
    await decide({ agent, session_id: tainted, action: { tool: 'http.get', args: { url: 'https://evil.example/x' } } });
    const { d } = await decide({ agent, session_id: tainted, action: email });
    expect(d.data).toMatchObject({ outcome: 'escalate', tier: 3, rule_ids: ['email-after-exposure'] });
    const secrets = `sess-secrets-${newId()}`;
    expect(
      (await decide({ agent, session_id: secrets, action: { tool: 'secrets.read', args: {} } })).d.data.outcome,
    ).toBe('deny');
    expect((await decide({ agent, session_id: secrets, action: email })).d.data.rule_ids).toEqual([
      'email-after-exposure',
    ]);
  });

  it('observe mode: the decision records what enforce would do', async () => {
    const text = variant('observe.1', (raw) => (raw.mode = 'observe'));
    expect((await put(text)).status).toBe(200);
    await waitFor(async () => (await activeDigest(replicaUrl)) === parseBundle(text).digest, 'replica on observe.1');
    const { d } = await decide({ action: { tool: 'secrets.read', args: {} } });
    expect(d.data).toMatchObject({ outcome: 'deny', mode: 'observe', rule_ids: ['secrets-read'] });
    await restore();
  });

  it('loop detection: the same failing action escalates after 3 run_failed in the session', async () => {
    const session = `sess-loop-${newId()}`;
    const action = { tool: 'fs.write_file', args: { path: 'notes/loop.md', content: 'x' } };
    for (let i = 0; i < 3; i++) {
      const { env, d } = await decide({ session_id: session, action });
      expect(d.data.outcome).toBe('allow');
      await publisher.publishEvent(
        makeEnvelope({
          type: 'run_failed',
          runId: env.run_id!,
          producer: 'workers',
          traceId: env.trace_id,
          data: {
            result: {
              output: null,
              output_hash: `sha256:${'0'.repeat(64)}`,
              error: { code: 'DISK_FULL', message: 'disk full' },
            },
          },
        }),
      );
      await waitFor(
        async () => {
          const h = failuresIn(await redis.hgetall(`${t.prefix}:policy:session:${session}:fail`));
          return Object.values(h).some((v) => Number(v) >= i + 1);
        },
        `failure ${i + 1} counted`,
      );
    }
    await waitFor(async () => {
      const h = failuresIn(await redis.hgetall(`${t.prefix}:policy:session:${session}:fail`));
      return Object.values(h).some((v) => Number(v) >= 3);
    }, 'three failures counted');
    const { d } = await decide({ session_id: session, action });
    // (the test world's session budget is 3 calls: this 4th call is over it too)
    expect(d.data).toMatchObject({ outcome: 'escalate', tier: 2 });
    expect(d.data.rule_ids).toEqual(expect.arrayContaining(['fs-write', 'loop-detected']));
    expect(d.data.reasons).toContain('the same action already failed 3 times in this session (loop detection at 3)');
    // another action in the same session is not a loop
    const { d: other } = await decide({ session_id: session, action: { ...action, args: { path: 'notes/other.md' } } });
    expect(other.data.rule_ids).not.toContain('loop-detected');
  });

  it('forged run_failed and task_received copies count nothing and decide nothing', async () => {
    const session = `sess-forged-${newId()}`;
    const action = { tool: 'fs.write_file', args: { path: 'notes/forged-loop.md', content: 'x' } };
    const { env } = await decide({ session_id: session, action });
    // three forged failures of the same action: would make the next call a "loop" if counted
    for (let i = 0; i < 3; i++) {
      const forged = forgeAs(
        makeEnvelope({
          type: 'run_failed',
          runId: env.run_id!,
          producer: 'workers',
          traceId: env.trace_id,
          data: {
            result: { output: null, output_hash: `sha256:${'0'.repeat(64)}`, error: { code: 'X', message: 'x' } },
          },
        }),
      );
      await t.bus.js.publish(t.subjects.event(env.run_id!, 'run_failed'), JSON.stringify(forged), { msgID: forged.id });
    }
    // a task_received no ingest signed, for a run of its own
    const ghost = forgeAs(received({ session_id: session, action }));
    await t.bus.js.publish(t.subjects.event(ghost.run_id!, 'task_received'), JSON.stringify(ghost), {
      msgID: ghost.id,
    });
    const { d } = await decide({ session_id: session, action: { ...action, args: { ...action.args, content: 'y' } } });
    expect(d.data.outcome).toBe('allow');
    expect(failuresIn(await redis.hgetall(`${t.prefix}:policy:session:${session}:fail`))).toEqual({});
    expect(await readAll(t.bus, t.subjects.streams.events, t.subjects.event(ghost.run_id!, 'decision_made'))).toEqual(
      [],
    );
    const dead = await waitFor(async () => {
      const all = await readAll(t.bus, t.subjects.streams.deadLetters, `${t.subjects.prefix}.dlq.policy.>`);
      const mine = all.filter((m) => {
        const runId = (m.json() as { run_id?: string }).run_id;
        return runId === env.run_id || runId === ghost.run_id;
      });
      return mine.length >= 4 ? mine : undefined;
    }, 'the four forgeries dead-lettered');
    expect(dead).toHaveLength(4);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/warden_security_forged_events_total\{[^}]*type="run_failed"[^}]*\} [1-9]/);
    expect(metrics).toMatch(/warden_security_forged_events_total\{[^}]*type="task_received"[^}]*\} [1-9]/);
  });

  it('loop detection: the same call proposed again and again is refused as a loop, then escalates (successes count too)', async () => {
    const text = variant('int-lang-repeats.1', (raw) => {
      raw.loops = { max_failures: 3, tier: 2, max_repeats: 3, escalate_repeats: 5 };
      raw.budgets = {};
    });
    expect((await put(text)).status).toBe(200);
    const digest = parseBundle(text).digest;
    await waitFor(async () => (await activeDigest(replicaUrl)) === digest, 'the replica on the repeats bundle');
    try {
      const session = `sess-repeat-${newId()}`;
      const action = { tool: 'fs.read_file', args: { path: 'notes/same.md' } };
      // a dry run counts nothing
      for (let i = 0; i < 5; i++) {
        const res = await fetch(`${url}/v1/evaluate`, {
          method: 'POST',
          headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ agent: { id: 'agent-7', role: 'dev' }, session_id: session, action }),
        });
        expect(((await res.json()) as { outcome: string }).outcome).toBe('allow');
      }
      const outcomes: string[] = [];
      const decisions: Envelope<'decision_made'>[] = [];
      let first: Envelope<'task_received'> | undefined;
      for (let i = 0; i < 6; i++) {
        const { env, d } = await decide({ session_id: session, action });
        first ??= env;
        outcomes.push(d.data.outcome);
        decisions.push(d);
        // a redelivered copy of the first proposal is not a second proposal
        if (i === 0)
          await t.bus.js.publish(t.subjects.event(env.run_id!, 'task_received'), JSON.stringify(env), {
            msgID: newId(),
          });
      }
      expect(outcomes).toEqual(['allow', 'allow', 'allow', 'deny', 'deny', 'escalate']);
      expect(decisions[3]!.data).toMatchObject({
        rule_ids: ['fs-read', 'loop-repeated-call'],
        reasons: [
          expect.any(String),
          'looping: fs.read_file with these exact arguments was already proposed 3 times in this session (loop detection at 3); change the arguments, use the result you have, or stop',
        ],
      });
      expect(decisions[5]!.data).toMatchObject({ tier: 2, rule_ids: ['fs-read', 'loop-repeated-call'] });
      // other arguments, or another session, are another call
      const { d: other } = await decide({
        session_id: session,
        action: { ...action, args: { path: 'notes/other.md' } },
      });
      expect(other.data.outcome).toBe('allow');
      const { d: elsewhere } = await decide({ session_id: `sess-repeat-${newId()}`, action });
      expect(elsewhere.data.outcome).toBe('allow');
      // a forged task_received of the same call counts nothing
      const before = await redis.hgetall(`${t.prefix}:policy:session:${session}:fail`);
      const ghost = forgeAs(received({ session_id: session, action }));
      await t.bus.js.publish(t.subjects.event(ghost.run_id!, 'task_received'), JSON.stringify(ghost), {
        msgID: ghost.id,
      });
      await new Promise((r) => setTimeout(r, 500));
      expect(await redis.hgetall(`${t.prefix}:policy:session:${session}:fail`)).toEqual(before);
      expect(Object.values(before).map(Number).sort()).toEqual([1, 6]);
    } finally {
      await restore();
    }
  });

  it('rate limits hold across two replicas: no over-admission under concurrent calls', async () => {
    const text = variant('rate.1', (raw) => {
      raw.rate_limits = [{ id: 'reads', tools: ['fs.read_file'], capacity: 5, per: '1h' }];
    });
    expect((await put(text)).status).toBe(200);
    await waitFor(async () => (await activeDigest(replicaUrl)) === parseBundle(text).digest, 'replica on rate.1');
    const agent = { id: `agent-rate-${newId()}`, role: 'dev' };
    const envs = Array.from({ length: 40 }, () =>
      received({ agent, action: { tool: 'fs.read_file', args: { path: 'a' } } }),
    );
    const results = await Promise.all(envs.map((e, i) => (i % 2 ? replica : app).get(DecisionService).decideAll([e])));
    const outcomes = results.map((r) => ((r[0] as Envelope[])[0] as Envelope<'decision_made'>).data);
    expect(outcomes.filter((d) => d.outcome === 'allow')).toHaveLength(5);
    expect(outcomes.filter((d) => d.outcome === 'deny').every((d) => d.rule_ids.includes('rate-limit:reads'))).toBe(
      true,
    );
    await restore();
  });
});

describe('replay and what-if', () => {
  it('replays every recorded decision exactly under its recorded digest', async () => {
    // let the projection catch up with everything decided so far
    const all = await readAll(t.bus, t.subjects.streams.events, t.subjects.eventsOfType('decision_made'));
    await waitFor(async () => {
      const [{ n }] = (await world.ds.query('SELECT count(*)::int AS n FROM "policy".decisions')) as [{ n: number }];
      return n >= all.length;
    }, 'decisions projected');
    const res = await fetch(`${url}/v1/policy/replay`, {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ since: '1h' }),
    });
    const body = (await res.json()) as { replayed: number; identical: number; different: unknown[] };
    expect(body.replayed).toBeGreaterThanOrEqual(100);
    expect(body.different).toEqual([]);
    expect(body.identical).toBe(body.replayed);

    const one = all[all.length - 1]!.json() as Envelope<'decision_made'>;
    const r = await fetch(`${url}/v1/decisions/${one.run_id}/replay`, { headers: admin });
    expect(await r.json()).toMatchObject({
      run_id: one.run_id,
      identical: true,
      policy_digest: one.data.policy_digest,
    });
    expect((await fetch(`${url}/v1/decisions/${newId()}/replay`, { headers: admin })).status).toBe(404);
  });

  it('what-if counts what a candidate would change, activating nothing', async () => {
    const before = await activeDigest(url);
    const candidate = variant('whatif.1', (raw) => {
      raw.rules = raw.rules.filter((r: { id: string }) => r.id !== 'git-push');
      raw.rules.push({ id: 'git-push-ok', tools: ['git.push'], outcome: 'allow', reason: 'pushes are fine now' });
    });
    const res = await fetch(`${url}/v1/policy/whatif`, {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ bundle: candidate, since: '1h' }),
    });
    expect(res.status).toBe(200);
    const report = (await res.json()) as {
      candidate: { version: string };
      transitions: Record<string, number>;
      examples: Record<string, { tool: string }[]>;
    };
    expect(report.candidate.version).toBe('whatif.1');
    expect(report.transitions['escalate→allow']).toBeGreaterThanOrEqual(1);
    const examples = report.examples['escalate→allow']!;
    expect(examples.length).toBeGreaterThan(0);
    expect(examples.length).toBeLessThanOrEqual(3);
    expect(await activeDigest(url)).toBe(before);
    const bad = await fetch(`${url}/v1/policy/whatif`, {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ bundle: 'version: 1\n' }),
    });
    expect(bad.status).toBe(400);
  });
});
