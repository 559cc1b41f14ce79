import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { DeliverPolicy, RetentionPolicy } from '@nats-io/jetstream';
import {
  EVENT_PRODUCERS,
  PRODUCERS,
  Subjects,
  type Action,
  type Agent,
  type Decision,
  type Envelope,
  type EventType,
  type PlanRef,
} from '@warden/contracts';
import { loadKeyring, type Keyring } from '@warden/kernel';
import {
  BusMessage,
  EventAuthenticity,
  Publisher,
  connectBus,
  ensureStreams,
  makeEnvelope,
  type BusConnection,
} from '@warden/bus';
import { ensureDatabase } from '@warden/persistence';

export const TEST_NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
export const TEST_REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PG_BASE = process.env.TEST_DATABASE_BASE_URL ?? 'postgres://postgres@127.0.0.1:5432';

/**
 * One keyring seed per test process: every service a test starts derives its own producer key from
 * it (distinct keys per service, as in production), and {@link testPublisher} signs as any of them.
 * One per process because the event check is installed process-wide by each service's CoreModule.
 */
export const TEST_KEYRING_SEED = randomBytes(32).toString('base64');

/** The keyring a producer of this test process signs with. */
export function testKeyring(producer: string): Keyring {
  return loadKeyring({ self: producer, keyringSeed: TEST_KEYRING_SEED }, PRODUCERS);
}

/**
 * An envelope signed by its own `producer` (as that service would), for tests that publish events by
 * hand. Producer `test` stands for "whichever service rightly emits this type" and is replaced by it.
 */
export function sealAs<T extends EventType>(env: Envelope<T>): Envelope<T> {
  const producer = env.producer === 'test' ? EVENT_PRODUCERS[env.type] : env.producer;
  return new EventAuthenticity(testKeyring(producer)).seal({ ...env, producer });
}

/**
 * An envelope that claims `env.producer` but is signed with a key nobody trusts: what an attacker with
 * publish access on the bus can make.
 */
export function forgeAs<T extends EventType>(env: Envelope<T>): Envelope<T> {
  const mallory = loadKeyring({ self: env.producer, signingKey: randomBytes(32).toString('base64') }, PRODUCERS);
  return new EventAuthenticity(mallory).seal(env);
}

/**
 * A publisher that signs every event as the producer it names, like the real service would; an
 * envelope that already carries `sig` (a forgery under test) is published as it is.
 * @example const publisher = testPublisher(t); await publisher.publishEvent(makeEnvelope({ producer: 'policy', … }))
 */
export function testPublisher(t: Pick<TestEnv, 'bus' | 'subjects'>): Publisher {
  return new Publisher(t.bus.js, t.subjects, { seal: (e) => sealAs(e) });
}

/** Like {@link testPublisher}, and events published together are signed with one batch signature, per producer. */
export function testBatchPublisher(t: Pick<TestEnv, 'bus' | 'subjects'>): Publisher {
  return new Publisher(t.bus.js, t.subjects, {
    seal: (e) => sealAs(e),
    sealBatch: (envs) => {
      const producer = (e: Envelope) => (e.producer === 'test' ? EVENT_PRODUCERS[e.type] : e.producer);
      const ps = new Set(envs.map(producer));
      if (ps.size !== 1) return envs.map((e) => sealAs(e));
      const p = [...ps][0]!;
      return new EventAuthenticity(testKeyring(p)).sealBatch(envs.map((e) => ({ ...e, producer: p })));
    },
  });
}

/** An isolated world for one test file: its own subject prefix, streams and database. */
/**
 * A decision that escalates to people, as a test publishes it before an `approval_requested`
 * (tier 2, one approver, unless `over` says otherwise).
 * @example escalatedDecision(traceId, { tier: 3, constraints: { required_votes: 2 } })
 */
export function escalatedDecision(traceId: string, over: Partial<Decision> = {}): Decision {
  return {
    outcome: 'escalate',
    tier: 2,
    mode: 'enforce',
    rule_ids: ['needs-a-person'],
    reasons: ['a person decides'],
    constraints: { required_votes: 1 },
    policy_version: 'v',
    policy_digest: 'sha256:' + 'a'.repeat(64),
    input_hash: 'sha256:' + 'b'.repeat(64),
    trace_id: traceId,
    evaluated_at: new Date().toISOString(),
    ...over,
  };
}

/**
 * A `task_received` of `runId` as ingest makes it, unsigned (seal it with {@link sealAs}, publish it
 * through {@link testPublisher}, or forge it with {@link forgeAs}); with a plan slot when `plan` is given.
 * @example sealAs(receivedEnvelope(runId, { plan: { id: planId, index: 0, count: 2 } }))
 */
export function receivedEnvelope(
  runId: string,
  opts: { action?: Action; agent?: Agent; traceId?: string; plan?: PlanRef } = {},
): Envelope<'task_received'> {
  return makeEnvelope({
    type: 'task_received',
    runId,
    producer: 'ingest',
    traceId: opts.traceId ?? randomBytes(16).toString('hex'),
    data: {
      submission: {
        run_id: runId,
        agent: opts.agent ?? { id: 'agent-1', role: 'dev' },
        action: opts.action ?? { tool: 'git.push', args: { branch: 'main' } },
        ...(opts.plan ? { plan: opts.plan } : {}),
      },
      channel: 'bus',
    },
  });
}

export interface TestEnv {
  prefix: string;
  subjects: Subjects;
  databaseUrl: string;
  bus: BusConnection;
  /** Env vars to hand to service configs so they use this world. */
  env: Record<string, string>;
  cleanup(): Promise<void>;
}

/** Where a test world lives when it is not the machine's NATS (e.g. a private cluster). */
export interface TestEnvOptions {
  /** NATS servers, comma-separated (default {@link TEST_NATS_URL}); handed to services as `NATS_URL`. */
  natsUrl?: string;
  /** JetStream replicas of the streams (default 1); handed to services as `WARDEN_STREAM_REPLICAS`. */
  streamReplicas?: number;
}

/**
 * Creates a fresh prefix (`t<random>`), its streams, and a database `warden_<prefix>`.
 * @example const t = await createTestEnv(); afterAll(() => t.cleanup());
 * @example const t = await createTestEnv({ natsUrl: cluster.url, streamReplicas: 3 });
 */
export async function createTestEnv(opts: TestEnvOptions = {}): Promise<TestEnv> {
  const natsUrl = opts.natsUrl ?? TEST_NATS_URL;
  const replicas = opts.streamReplicas ?? 1;
  const prefix = `t${randomBytes(5).toString('hex')}`;
  const subjects = new Subjects(prefix);
  const databaseUrl = `${PG_BASE}/warden_${prefix}`;
  await ensureDatabase(databaseUrl);
  const bus = await connectBus(natsUrl, `test-${prefix}`);
  await ensureStreams(bus.jsm, subjects, { replicas });
  return {
    prefix,
    subjects,
    databaseUrl,
    bus,
    env: {
      NATS_URL: natsUrl,
      WARDEN_STREAM_REPLICAS: String(replicas),
      REDIS_URL: TEST_REDIS_URL,
      DATABASE_URL: databaseUrl,
      WARDEN_SUBJECT_PREFIX: prefix,
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'error',
      WARDEN_KEYRING_SEED: TEST_KEYRING_SEED,
      WARDEN_SECRETS_KEY: randomBytes(32).toString('base64'),
    },
    async cleanup() {
      for (const name of Object.values(subjects.streams)) await bus.jsm.streams.delete(name).catch(() => undefined);
      // and the KV buckets the services made under this prefix (MCP pins and tools, the policy pointer)
      const kv = `KV_${prefix.toUpperCase()}_`;
      const buckets: string[] = [];
      for await (const s of bus.jsm.streams.list()) if (s.config.name.startsWith(kv)) buckets.push(s.config.name);
      for (const name of buckets) await bus.jsm.streams.delete(name).catch(() => undefined);
      await bus.nc.close().catch(() => undefined);
      const admin = new Client({ connectionString: `${PG_BASE}/postgres` });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS "warden_${prefix}" WITH (FORCE)`).catch(() => undefined);
      await admin.end();
    },
  };
}

/**
 * Polls `fn` until it returns something other than undefined/false, or fails after `timeoutMs`
 * with `what` in the message.
 */
export async function waitFor<T>(
  fn: () => Promise<T | undefined | false | null> | T | undefined | false | null,
  what: string,
  timeoutMs = 15_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false && v !== null) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${(lastErr as Error).message}` : ''}`,
      );
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A message read back in a test. */
export interface ReadMessage {
  subject: string;
  seq: number;
  json(): unknown;
}

/** Every message currently in `stream` matching `filter`, in order (reads to the end, then stops). */
export async function readAll(bus: BusConnection, stream: string, filter: string): Promise<ReadMessage[]> {
  const si = await bus.jsm.streams.info(stream);
  if (si.config.retention === RetentionPolicy.Workqueue)
    return peekWorkQueue(bus, stream, filter, si.state.first_seq, si.state.last_seq);
  const consumer = await bus.js.consumers.get(stream, { filter_subjects: filter, deliver_policy: DeliverPolicy.All });
  const info = await consumer.info(true);
  const out: BusMessage[] = [];
  if (info.num_pending === 0) return out;
  const iter = await consumer.consume({ max_messages: 1000 });
  for await (const m of iter) {
    out.push(new BusMessage(m));
    if (m.info.pending === 0) break;
  }
  await iter.close().catch(() => undefined);
  return out;
}

/** A work-queue stream allows no second consumer, so peek by sequence (fine for test-sized streams). */
async function peekWorkQueue(
  bus: BusConnection,
  stream: string,
  filter: string,
  first: number,
  last: number,
): Promise<ReadMessage[]> {
  const re = new RegExp('^' + filter.replace(/\./g, '\\.').replace(/\*/g, '[^.]+').replace(/>$/, '.+') + '$');
  const out: ReadMessage[] = [];
  for (let seq = first; seq > 0 && seq <= last; seq++) {
    const m = await bus.jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (m && re.test(m.subject)) out.push({ subject: m.subject, seq: m.seq, json: () => m.json() });
  }
  return out;
}

/** Every envelope of one run, in stream order. */
export async function runEvents(
  bus: BusConnection,
  subjects: Subjects,
  runId: string,
): Promise<{ type: string; [k: string]: unknown }[]> {
  const msgs = await readAll(bus, subjects.streams.events, `${subjects.prefix}.events.run.${runId}.>`);
  return msgs.map((m) => m.json() as { type: string });
}
