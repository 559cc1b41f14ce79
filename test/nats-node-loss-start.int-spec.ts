import { makeEnvelope } from '@warden/bus';
import type { Decision } from '@warden/contracts';
import { deriveId, newId, newTraceId } from '@warden/kernel';
import { createTestEnv, escalatedDecision, testPublisher, waitFor, type TestEnv } from '@warden/testing';
import { NatsCluster } from './support/nats-cluster';
import { Replicas } from './support/replicas';

const ADMIN = 'node-loss-admin-token-0123456789abcdef';
/**
 * A fresh replica must be ready this soon after a node is lost (17-32 s measured here right after a
 * meta-leader kill on a loaded 2-core box, once 46.8 s in a full CI run; ~3 minutes before the fix).
 */
const READY_WITHIN_MS = 60_000;

const decision = (traceId: string): Decision => escalatedDecision(traceId);

/**
 * Issue 15: after one node of a 3-node cluster was killed -9, approvals replicas failed to start for
 * minutes (`failed to start error=timeout`). Every start creates R1 ordered consumers (identity
 * directory, projections, KV watches) and the meta leader placed some of them on the dead node, so the
 * request timed out and the start gave up; killing the meta leader also timed out the JetStream API
 * check. Start-up JetStream steps now retry transient failures with backoff. Here the meta leader is
 * killed and stays down, and fresh replicas of approvals and policy must be ready within 60 s and
 * serve: an operator created and an approval rejected through the new approvals replica, closed once.
 */
describe('a fresh replica starts within 60 s while one node of a 3-node NATS cluster is down', () => {
  const cluster = new NatsCluster();
  let t: TestEnv;
  let replicas: Replicas;
  let victim = -1;

  beforeAll(async () => {
    await cluster.start(3);
    t = await createTestEnv({ natsUrl: cluster.url, streamReplicas: 3 });
    replicas = new Replicas(
      {
        ...process.env,
        ...t.env,
        WARDEN_BOOTSTRAP_ADMIN_TOKEN: ADMIN,
        LOG_LEVEL: process.env.NODE_LOSS_LOG_LEVEL ?? 'warn',
      },
      25000 + Math.floor(Math.random() * 400) * 10,
    );
    // the first replicas provision the streams, consumers and buckets at R3 on the whole cluster
    await replicas.start('approvals', 1);
    await replicas.start('policy', 1);
  }, 180_000);
  afterAll(async () => {
    await replicas?.stopAll();
    await t?.cleanup().catch(() => undefined);
    await cluster.stop();
  }, 60_000);

  /** The JetStream meta leader, from a node's monitoring endpoint. */
  async function metaLeader(): Promise<number> {
    for (const n of cluster.nodes) {
      try {
        const jsz = (await (await fetch(`http://127.0.0.1:${n.httpPort}/jsz`)).json()) as {
          meta_cluster?: { leader?: string };
        };
        const i = cluster.indexOf(jsz.meta_cluster?.leader);
        if (i >= 0) return i;
      } catch {
        // this node is not answering; ask the next
      }
    }
    return -1;
  }

  async function timedStart(service: 'approvals' | 'policy', n: number): Promise<number> {
    const started = Date.now();
    await replicas.start(service, n);
    const ms = Date.now() - started;
    const retries = replicas
      .get(`${service}-${n}`)
      .log.join('')
      .split('\n')
      .filter((l) => l.includes('jetstream not ready'))
      .map((l) => /"step":"([^"]+)"/.exec(l)?.[1] ?? l.slice(0, 200));
    console.log(`node-loss: ${service}-${n} ready in ${ms} ms after ${retries.length} retried steps`, retries);
    return ms;
  }

  it('kills the meta leader -9; new approvals and policy replicas are ready within 60 s; an approval is decided (rejected) through the new one', async () => {
    victim = await metaLeader();
    expect(victim).toBeGreaterThanOrEqual(0);
    await cluster.kill9(victim);

    // straight after the kill (meta and stream leaders being elected again) and while the node stays down
    expect(await timedStart('approvals', 2)).toBeLessThan(READY_WITHIN_MS);
    expect(await timedStart('policy', 2)).toBeLessThan(READY_WITHIN_MS);
    // a third approvals replica: each start places its ordered consumers anew (about half on the dead node)
    expect(await timedStart('approvals', 3)).toBeLessThan(READY_WITHIN_MS);

    // only the replicas started after the kill serve from here on
    await replicas.kill9('approvals-1');
    await replicas.kill9('approvals-3');
    const url = replicas.url('approvals-2');

    const runId = newId();
    const traceId = newTraceId();
    const approvalId = deriveId(runId, 'approval');
    await testPublisher(t).publishEvent(
      makeEnvelope({
        type: 'approval_requested',
        runId,
        producer: 'orchestrator',
        traceId,
        data: {
          approval_id: approvalId,
          tier: 2,
          required_votes: 1,
          expires_at: new Date(Date.now() + 10 * 60_000).toISOString(),
          agent: { id: 'node-loss-agent', role: 'dev' },
          action: { tool: 'deploy.production', args: { service: 'svc' } },
          decision: decision(traceId),
        },
      }),
    );
    await waitFor(
      async () =>
        (await fetch(`${url}/v1/approvals/${approvalId}`, { headers: { authorization: `Bearer ${ADMIN}` } })).status ===
        200,
      'the approval in the new replica inbox',
      20_000,
    );
    const op = await fetch(`${url}/v1/operators`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'node-loss-op', roles: ['approver'], max_tier: 3 }),
    });
    expect(op.status).toBe(201);
    const { token } = (await op.json()) as { token: string };
    // the operator created above reaches the directory of the replica that checks the vote
    const vote = await waitFor(async () => {
      const r = await fetch(`${url}/v1/approvals/${approvalId}/reject`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ comment: 'node down, still decided' }),
      });
      return r.status === 401 ? undefined : r;
    }, 'the operator known to the replica');
    expect(vote.status).toBe(200);

    // counted from the stream's own per-subject state (an ordered read could itself land on the dead node)
    const closedSubject = t.subjects.event(runId, 'approval_rejected');
    const closed = await waitFor(async () => {
      const si = await t.bus.jsm.streams.info(t.subjects.streams.events, { subjects_filter: closedSubject });
      return si.state.subjects?.[closedSubject];
    }, 'approval_rejected on the bus');
    expect(closed).toBe(1);
    // a second vote on the decided approval is refused, not counted again
    const again = await fetch(`${url}/v1/approvals/${approvalId}/reject`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(again.status).toBe(409);
  }, 240_000);

  it('with the node back and catching up, another fresh approvals replica is ready within 60 s', async () => {
    expect(victim).toBeGreaterThanOrEqual(0);
    await cluster.restart(victim);
    expect(await timedStart('approvals', 4)).toBeLessThan(READY_WITHIN_MS);
  }, 120_000);
});
