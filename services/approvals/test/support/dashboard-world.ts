import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Publisher, makeEnvelope } from '@warden/bus';
import { newId, newTraceId } from '@warden/kernel';
import { IdentityDirectory } from '@warden/runtime';
import { secretHash } from '@warden/identity';
import { createTestEnv, waitFor, type TestEnv, testPublisher } from '@warden/testing';
import { System } from '../../../../test/support/system';

export const ADMIN_TOKEN = 'dashboard-admin-token-0123456789';

/** All five services with a workspace and a bootstrap admin; operators are created on the directory stream. */
export class DashboardWorld {
  t!: TestEnv;
  sys!: System;
  publisher!: Publisher;
  workspace = mkdtempSync(join(tmpdir(), 'warden-dashboard-'));

  async start(extraEnv: Record<string, string> = {}): Promise<void> {
    this.t = await createTestEnv();
    this.sys = new System(this.t, {
      WARDEN_WORKSPACE: this.workspace,
      WARDEN_BOOTSTRAP_ADMIN_TOKEN: ADMIN_TOKEN,
      ...extraEnv,
    });
    await this.sys.startAll();
    this.publisher = testPublisher(this.t);
  }

  async stop(): Promise<void> {
    await this.sys?.stopAll();
    await this.t?.cleanup();
  }

  get url(): string {
    return this.sys.url('approvals');
  }

  /** Creates an operator and returns its bearer token once the approvals service knows it. */
  async operator(
    name: string,
    roles: ('viewer' | 'approver' | 'admin')[] = ['approver'],
    maxTier: 1 | 2 | 3 = 3,
  ): Promise<{ id: string; token: string }> {
    const id = newId();
    const token = `wop_${newId()}${newId()}`.replace(/-/g, '');
    await this.publisher.publishEvent(
      makeEnvelope({
        type: 'operator_created',
        runId: null,
        correlationId: id,
        producer: 'test',
        traceId: newTraceId(),
        data: { operator_id: id, name, roles, max_tier: maxTier, token_hash: secretHash(token), created_by: 'test' },
      }),
    );
    const dir = this.sys.apps.get('approvals')!.get(IdentityDirectory);
    await waitFor(() => dir.authenticate(token), `operator ${name} known to approvals`);
    return { id, token };
  }

  /** Publishes a TaskSubmission the way integrators do (JetStream publish to the ingest subject). */
  async submit(tool: string, args: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<string> {
    const runId = newId();
    await this.t.bus.js.publish(
      this.t.subjects.ingestTasks,
      JSON.stringify({
        run_id: runId,
        agent: { id: 'agent-ui', role: 'dev' },
        session_id: 'sess-ui',
        action: { tool, args },
        intent: 'dashboard test',
        ...extra,
      }),
      { msgID: newId() },
    );
    return runId;
  }

  async api<T = unknown>(
    path: string,
    token: string | undefined,
    init: { method?: string; body?: unknown } = {},
  ): Promise<{ status: number; body: T; headers: Headers }> {
    const r = await fetch(`${this.url}${path}`, {
      method: init.method ?? 'GET',
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: init.body !== undefined ? JSON.stringify(init.body) : undefined,
    });
    const text = await r.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: r.status, body: body as T, headers: r.headers };
  }
}
