import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { parse, stringify } from 'yaml';
import { makeEnvelope } from '@warden/bus';
import type { Envelope, TaskSubmission } from '@warden/contracts';
import { newId, newTraceId } from '@warden/kernel';
import { createRedis, type Redis } from '@warden/persistence';
import { DATA_SOURCE, startService } from '@warden/runtime';
import { createTestEnv, type TestEnv } from '@warden/testing';
import { AppModule } from '../../src/app.module';
import { loadConfig } from '../../src/config';
import { policyBucket } from '../../src/bundle/bundle.registry';

/** The bootstrap admin token every test world's policy accepts. */
export const ADMIN_TOKEN = 'test-admin-token-0123456789';

/** A running policy service on its own prefix, database and bundle file, plus a Redis client to inspect budgets. */
export interface PolicyWorld {
  t: TestEnv;
  app: INestApplication;
  ds: DataSource;
  redis: Redis;
  bundleText: string;
  /** Another policy replica on the same prefix, database and bundle file. */
  startReplica(): Promise<INestApplication>;
  close(): Promise<void>;
}

/**
 * Starts policy with the shipped bundle under `version`, with small session budgets (3 calls, 1000
 * tokens) so a few runs cross them.
 */
export async function startPolicyWorld(version: string): Promise<PolicyWorld> {
  const t = await createTestEnv();
  const raw = parse(readFileSync(resolve(__dirname, '../../../../deploy/policies/default.yaml'), 'utf8')) as Record<
    string,
    unknown
  >;
  raw.version = version;
  // escalate only once over (no early escalation), as the contract's table reads
  raw.budgets = {
    session: { max_calls: 3, max_tokens: 1000, window_seconds: 3600, escalate_at: null, on_exceed: 'escalate' },
  };
  const bundleText = stringify(raw);
  const dir = mkdtempSync(join(tmpdir(), 'warden-policy-'));
  writeFileSync(join(dir, 'bundle.yaml'), bundleText);
  const config = loadConfig({
    ...process.env,
    ...t.env,
    POLICY_PORT: '0',
    WARDEN_POLICY_FILE: join(dir, 'bundle.yaml'),
    WARDEN_BOOTSTRAP_ADMIN_TOKEN: ADMIN_TOKEN,
    // an empty workspace (not created): every path is judged as itself
    WARDEN_WORKSPACE: join(dir, 'workspace'),
  });
  const app = await startService(AppModule.forRoot(config), { service: 'policy', port: 0 });
  const redis = createRedis(t.env.REDIS_URL!, `policy-test-${version}`);
  const replicas: INestApplication[] = [];
  return {
    t,
    app,
    ds: app.get(DATA_SOURCE),
    redis,
    bundleText,
    async startReplica() {
      const replica = await startService(AppModule.forRoot(config), { service: 'policy', port: 0 });
      replicas.push(replica);
      return replica;
    },
    async close() {
      for (const r of replicas) await r.close();
      await app.close();
      await t.bus.jsm.streams.delete(`KV_${policyBucket(t.subjects)}`).catch(() => undefined);
      const keys = await redis.keys(`${t.prefix}:*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
      await t.cleanup();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A `task_received` for a fresh run, as ingest would publish it. */
export function received(submission: Partial<TaskSubmission> = {}): Envelope<'task_received'> {
  const runId = newId();
  return makeEnvelope({
    type: 'task_received',
    runId,
    producer: 'ingest',
    traceId: newTraceId(),
    correlationId: runId,
    causationId: null,
    data: {
      submission: {
        agent: { id: 'agent-7', role: 'dev' },
        action: { tool: 'fs.read_file', args: { path: 'notes/a.md' } },
        ...submission,
        run_id: runId,
      },
      channel: 'bus',
    },
  });
}
