import type { INestApplication } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import type { Decision } from '@warden/contracts';
import { Publisher, makeEnvelope } from '@warden/bus';
import { deriveId, newId, newTraceId } from '@warden/kernel';
import { DATA_SOURCE, rebuildService, startService } from '@warden/runtime';
import { createTestEnv, escalatedDecision, waitFor, type TestEnv, testPublisher } from '@warden/testing';
import { AppModule } from '../src/app.module';
import { loadConfig } from '../src/config';
import { rebuildTarget } from '../src/projections';
import { ApprovalClosureProjection, ApprovalRequestProjection } from '../src/approval/projections/approval.projection';

describe('approvals inbox projection on real NATS + Postgres', () => {
  let t: TestEnv;
  let app: INestApplication;
  let publisher: Publisher;
  const start = async () => {
    app = await startService(AppModule.forRoot(loadConfig({ ...process.env, ...t.env, APPROVALS_PORT: '0' })), {
      service: 'approvals',
      port: 0,
      host: '127.0.0.1',
    });
  };
  beforeAll(async () => {
    t = await createTestEnv();
    publisher = testPublisher(t);
    await start();
  });
  afterAll(async () => {
    await app?.close();
    await t?.cleanup();
  });

  const decision = (traceId: string): Decision =>
    escalatedDecision(traceId, {
      tier: 3,
      rule_ids: ['deploy-production'],
      reasons: ['production deploys need two approvers'],
      constraints: { required_votes: 2 },
    });

  async function requestApproval() {
    const runId = newId();
    const traceId = newTraceId();
    const approvalId = deriveId(runId, 'approval');
    await publisher.publishEvents([
      makeEnvelope({
        type: 'run_started',
        runId,
        producer: 'test',
        traceId,
        data: { worker_id: 'noise', attempt: 1 },
      }),
      makeEnvelope({
        type: 'approval_requested',
        runId,
        producer: 'orchestrator',
        traceId,
        data: {
          approval_id: approvalId,
          tier: 3,
          required_votes: 2,
          expires_at: new Date(Date.now() + 3600_000).toISOString(),
          agent: { id: 'a', role: 'dev' },
          action: { tool: 'deploy.production', args: { service: 'api' } },
          decision: decision(traceId),
        },
      }),
    ]);
    return { runId, traceId, approvalId };
  }

  const row = async (id: string) =>
    (
      (await app.get<DataSource>(DATA_SOURCE).query('SELECT * FROM approvals.inbox WHERE id = $1', [id])) as {
        status: string;
        required_votes: number;
        operators: string[];
      }[]
    )[0];

  it('holds a pending approval and closes it once, ignoring everything else on the log', async () => {
    const a = await requestApproval();
    const pending = await waitFor(() => row(a.approvalId), 'the pending row');
    expect(pending).toMatchObject({ status: 'pending', required_votes: 2 });
    await publisher.publishEvent(
      makeEnvelope({
        type: 'approval_granted',
        runId: a.runId,
        producer: 'approvals',
        traceId: a.traceId,
        data: { approval_id: a.approvalId, operators: ['alice', 'bob'] },
      }),
    );
    await waitFor(async () => (await row(a.approvalId))?.status === 'granted', 'granted');
    // a late rejection for a closed approval changes nothing
    await publisher.publishEvent(
      makeEnvelope({
        type: 'approval_rejected',
        runId: a.runId,
        producer: 'approvals',
        traceId: a.traceId,
        data: { approval_id: a.approvalId, operators: ['carol'] },
      }),
    );
    const marker = await requestApproval();
    await waitFor(() => row(marker.approvalId), 'the marker row');
    expect(await row(a.approvalId)).toMatchObject({ status: 'granted', operators: ['alice', 'bob'] });
  });

  it('gives the same inbox whichever consumer runs first: the earliest closure in the log wins', async () => {
    const ds = app.get<DataSource>(DATA_SOURCE);
    const a = newId();
    const traceId = newTraceId();
    const msg = (seq: number) => ({ seq }) as never;
    const requested = makeEnvelope({
      type: 'approval_requested',
      runId: newId(),
      producer: 'orchestrator',
      traceId,
      data: {
        approval_id: a,
        tier: 2,
        required_votes: 1,
        expires_at: new Date(Date.now() + 60_000).toISOString(),
        agent: { id: 'a', role: 'dev' },
        action: { tool: 'git.push', args: {} },
        decision: decision(traceId),
      },
    });
    const granted = makeEnvelope({
      type: 'approval_granted',
      runId: requested.run_id,
      producer: 'approvals',
      traceId,
      data: { approval_id: a, operators: ['alice'] },
    });
    const rejected = makeEnvelope({
      type: 'approval_rejected',
      runId: requested.run_id,
      producer: 'approvals',
      traceId,
      data: { approval_id: a, operators: ['bob'] },
    });
    // applied straight through the handlers, in one transaction that is rolled back: not on the log
    const rollback = new Error('rollback');
    await ds
      .transaction(async (em) => {
        // closures before the request, and the later rejection before the earlier grant
        await new ApprovalClosureProjection('approval_rejected').apply([{ env: rejected, msg: msg(30) }], em);
        await new ApprovalClosureProjection('approval_granted').apply([{ env: granted, msg: msg(20) }], em);
        await new ApprovalRequestProjection().apply([{ env: requested, msg: msg(10) }], em);
        const [inbox] = (await em.query('SELECT * FROM approvals.inbox WHERE id = $1', [a])) as unknown[];
        expect(inbox).toMatchObject({ status: 'granted', operators: ['alice'], required_votes: 1 });
        throw rollback;
      })
      .catch((err: unknown) => {
        if (err !== rollback) throw err;
      });
    expect(await row(a)).toBeUndefined();
  });

  it('reads only approval events, and a rebuild equals the live inbox', async () => {
    await publisher.publishEvents(
      Array.from({ length: 50 }, () =>
        makeEnvelope({
          type: 'run_started',
          runId: newId(),
          producer: 'test',
          traceId: newTraceId(),
          data: { worker_id: 'w', attempt: 1 },
        }),
      ),
    );
    const marker = await requestApproval();
    await waitFor(() => row(marker.approvalId), 'the marker row');
    const consumers = await t.bus.jsm.consumers.list(t.subjects.streams.events).next();
    const filters = consumers.map((c) => c.config.filter_subject).filter((f) => f?.includes('approval'));
    expect(filters.sort()).toEqual(
      ['approval_expired', 'approval_granted', 'approval_rejected', 'approval_requested', 'approval_vote']
        .map((x) => t.subjects.eventsOfType(x))
        .sort(),
    );
    await app.close();
    const ds = await (await import('@warden/persistence')).openDataSource({ url: t.databaseUrl, schema: 'approvals' });
    const before = await ds.query('SELECT * FROM approvals.inbox ORDER BY id');
    expect(before.length).toBeGreaterThanOrEqual(1);
    await rebuildService(rebuildTarget, { ...process.env, ...t.env });
    expect(await ds.query('SELECT * FROM approvals.inbox ORDER BY id')).toEqual(before);
    await ds.destroy();
    await start();
  });
});
