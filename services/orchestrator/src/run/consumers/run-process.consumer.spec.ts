import { generateKeyPairSync } from 'node:crypto';
import type { JetStreamClient } from '@nats-io/jetstream';
import {
  Subjects,
  decisionSigningPayload,
  executeCommandSigningPayload,
  grantSigningPayload,
  type AnyEnvelope,
  type Decision,
  type ExecuteCommand,
} from '@warden/contracts';
import { Publisher, type OutgoingMessage } from '@warden/bus';
import { deriveId, signCanonical, verifyCanonical, type SigningKeys } from '@warden/kernel';
import { registry } from '@warden/observability';
import type { Counter } from 'prom-client';
import { evolve, initialState, type RunState } from '../domain/run.state';
import { RunSigner } from '../run-signer';
import { RunProcessConsumer } from './run-process.consumer';

const RUN = '55555555-5555-4555-8555-555555555555';
const TRACE = 'e'.repeat(32);
const NOW = new Date('2026-12-03T10:00:00.000Z');
let n = 0;

function keys(): SigningKeys {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey };
}
const policyKeys = keys();
const orchestratorKeys = keys();
const subjects = new Subjects('warden');
// eventMessage only addresses the envelope; nothing here publishes
const publisher = new Publisher({} as JetStreamClient, subjects);

function env<T extends AnyEnvelope['type']>(type: T, data: Extract<AnyEnvelope, { type: T }>['data']): AnyEnvelope {
  n += 1;
  return {
    id: deriveId('consumer-test', String(n)),
    type,
    version: 1,
    run_id: RUN,
    occurred_at: new Date(NOW.getTime() + n).toISOString(),
    producer: 'test',
    correlation_id: RUN,
    causation_id: null,
    trace_id: TRACE,
    data,
  } as AnyEnvelope;
}

const received = (executor?: 'client') =>
  env('task_received', {
    submission: {
      run_id: RUN,
      agent: { id: 'a1', role: 'dev' },
      action: { tool: 'fs.write_file', args: { path: 'x', content: 'y' } },
      ...(executor ? { executor } : {}),
    },
    channel: 'bus',
  });

/** A decision for the run's action, signed by `by` (the policy's key unless a forger's). */
function decision(state: RunState, by: SigningKeys = policyKeys, over: Partial<Decision> = {}): Decision {
  const d: Decision = {
    outcome: 'allow',
    tier: 1,
    mode: 'enforce',
    rule_ids: ['r1'],
    reasons: ['because'],
    constraints: {},
    policy_version: 'v1',
    policy_digest: 'sha256:' + '0'.repeat(64),
    input_hash: 'sha256:' + '1'.repeat(64),
    trace_id: TRACE,
    evaluated_at: NOW.toISOString(),
    ...over,
  };
  return { ...d, signature: signCanonical(by, decisionSigningPayload(state.runId, state.action, d)) };
}

const consumer = (clientExecutor = false) =>
  new RunProcessConsumer(subjects, publisher, new RunSigner({ commands: orchestratorKeys, decisions: policyKeys }), {
    approvalTtlMs: () => 60_000,
    requiredVotes: { 1: 1, 2: 1, 3: 2 },
    ...(clientExecutor ? { clientExecutor: { maxTier: 2, grantTtlMs: 30_000 } } : {}),
  });

const forgedCount = async (): Promise<number> => {
  const metric = registry.getSingleMetric('warden_orchestrator_forged_decisions_total') as Counter;
  return (await metric.get()).values[0]?.value ?? 0;
};

describe('the run process consumer (given / when / then)', () => {
  it('answers an authentic allow with run_queued and a worker command signed with the orchestrator key', () => {
    const before = evolve(initialState(RUN), received());
    const cause = env('decision_made', decision(before));
    const out: OutgoingMessage[] = [];
    const c = consumer();
    expect(c.handle(before, cause, c.batch({ rebuild: false, now: NOW }), out)).toBe(false);
    expect(out).toHaveLength(2);
    expect(out[0]!.payload).toMatchObject({ type: 'run_queued', run_id: RUN, causation_id: cause.id });
    const command = out[1]!.payload as ExecuteCommand;
    expect(out[1]).toMatchObject({
      subject: subjects.workerExecute('dev'),
      msgId: deriveId(cause.id, 'execute'),
      kind: 'command',
    });
    const { signature, ...unsigned } = command;
    expect(verifyCanonical(orchestratorKeys, executeCommandSigningPayload(unsigned), signature)).toBe(true);
    expect(verifyCanonical(policyKeys, executeCommandSigningPayload(unsigned), signature)).toBe(false);
  });

  it('ignores a decision the policy did not sign: counted, nothing published, reported as forged', async () => {
    const before = evolve(initialState(RUN), received());
    const counted = await forgedCount();
    const out: OutgoingMessage[] = [];
    const c = consumer();
    const forged = env('decision_made', decision(before, keys(), { outcome: 'deny' }));
    expect(c.handle(before, forged, c.batch({ rebuild: false, now: NOW }), out)).toBe(true);
    expect(out).toEqual([]);
    expect(await forgedCount()).toBe(counted + 1);
  });

  it('while rebuilding publishes and counts nothing, but still tells a forged decision from an authentic one', async () => {
    const before = evolve(initialState(RUN), received());
    const counted = await forgedCount();
    const out: OutgoingMessage[] = [];
    const c = consumer();
    const batch = c.batch({ rebuild: true, now: NOW });
    expect(c.handle(before, env('decision_made', decision(before)), batch, out)).toBe(false);
    expect(c.handle(before, env('decision_made', decision(before, keys())), batch, out)).toBe(true);
    expect(out).toEqual([]);
    expect(await forgedCount()).toBe(counted);
  });

  it('grants a client-executed run with a grant signed by the orchestrator key, and dispatches no worker', () => {
    const before = evolve(initialState(RUN), received('client'));
    const out: OutgoingMessage[] = [];
    const c = consumer(true);
    c.handle(before, env('decision_made', decision(before)), c.batch({ rebuild: false, now: NOW }), out);
    expect(out).toHaveLength(1);
    const granted = out[0]!.payload as Extract<AnyEnvelope, { type: 'execution_granted' }>;
    expect(granted.type).toBe('execution_granted');
    expect(verifyCanonical(orchestratorKeys, grantSigningPayload(granted.data.grant), granted.data.signature)).toBe(
      true,
    );
  });

  it('publishes nothing for an event react ignores (a second task_received)', () => {
    const before = evolve(initialState(RUN), received());
    const out: OutgoingMessage[] = [];
    const c = consumer();
    expect(c.handle(before, received(), c.batch({ rebuild: false, now: NOW }), out)).toBe(false);
    expect(out).toEqual([]);
  });
});
