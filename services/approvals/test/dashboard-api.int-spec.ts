import { makeEnvelope } from '@warden/bus';
import { runStatusScript } from '@warden/contracts';
import { newId, newTraceId } from '@warden/kernel';
import { openDataSource } from '@warden/persistence';
import { rebuildService } from '@warden/runtime';
import { waitFor } from '@warden/testing';
import { rebuildTarget } from '../src/projections';
import { DashboardPruner } from '../src/dashboard/dashboard.module';
import { ADMIN_TOKEN, DashboardWorld } from './support/dashboard-world';

interface Run {
  run_id: string;
  status: string;
  tool: string;
  trace_id: string;
  approval_id: string | null;
  tier: number | null;
}
interface Approval {
  id: string;
  run_id: string;
  status: string;
  votes: { operator: string; vote: string; comment?: string; channel?: string }[];
}
interface Problem {
  status: number;
  title: string;
  errors?: { path: string; message: string }[];
}

/** Reads SSE frames from /v1/stream with a bearer token, as the dashboard does. */
class StreamReader {
  readonly events: { type: string; run_id: string; id: string; data: Record<string, unknown> }[] = [];
  closed = false;
  status = 0;
  private ctrl = new AbortController();

  async open(url: string, token: string): Promise<void> {
    const res = await fetch(`${url}/v1/stream`, {
      headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
      signal: this.ctrl.signal,
    });
    this.status = res.status;
    if (!res.ok || !res.body) return;
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    void (async () => {
      let buf = '';
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let i: number;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const frame = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const data = frame
              .split('\n')
              .filter((l) => l.startsWith('data: '))
              .map((l) => l.slice(6))
              .join('\n');
            if (frame.includes('event: run-event') && data) this.events.push(JSON.parse(data));
          }
        }
      } catch {
        /* aborted */
      }
      this.closed = true;
    })();
  }

  close(): void {
    this.ctrl.abort();
  }
}

describe('dashboard API, runs read model and live stream (all five services, real NATS/Postgres/Redis)', () => {
  const w = new DashboardWorld();
  beforeAll(() => w.start());
  afterAll(() => w.stop());

  it('serves the dashboard page and its assets with a strict CSP and ETags', async () => {
    const r = await fetch(`${w.url}/`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toContain('text/html');
    expect(r.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(r.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await r.text();
    expect(html).toContain('<label for="token">Operator token</label>');
    expect(html).toContain('aria-live="polite"');
    const js = await fetch(`${w.url}/dashboard/app.js`);
    expect(js.headers.get('content-type')).toContain('text/javascript');
    const again = await fetch(`${w.url}/dashboard/app.js`, { headers: { 'if-none-match': js.headers.get('etag')! } });
    expect(again.status).toBe(304);
    expect((await fetch(`${w.url}/dashboard/nope.js`)).status).toBe(404);
    expect((await fetch(`${w.url}/dashboard/app.css`)).status).toBe(200);
    // the browser's run status machine is the contracts' one, generated at startup
    const machine = await fetch(`${w.url}/dashboard/run-status.js`);
    expect(machine.headers.get('content-type')).toContain('text/javascript');
    expect(await machine.text()).toBe(runStatusScript());
    expect(html.indexOf('/dashboard/run-status.js')).toBeLessThan(html.indexOf('/dashboard/app.js'));
  });

  it('needs an operator token for its API and stream (401), and the approver role to vote (403)', async () => {
    const viewer = await w.operator('vera', ['viewer'], 3);
    for (const path of ['/v1/dashboard/me', '/v1/dashboard/runs', '/v1/dashboard/inbox', '/v1/stream']) {
      const r = await w.api<Problem>(path, undefined);
      expect([path, r.status]).toEqual([path, 401]);
      expect(r.headers.get('content-type')).toContain('application/problem+json');
      expect((await w.api(path, 'wop_not-a-token')).status).toBe(401);
    }
    expect((await w.api('/v1/dashboard/me', viewer.token)).body).toMatchObject({
      name: 'vera',
      roles: ['viewer'],
      max_tier: 3,
    });
    const vote = await w.api<Problem>(`/v1/dashboard/approvals/${newId()}/approve`, viewer.token, {
      method: 'POST',
      body: {},
    });
    expect(vote.status).toBe(403);
  });

  it('projects every run event: an allowed run appears with its whole timeline and leaves the active view', async () => {
    const runId = await w.submit('fs.write_file', { path: 'notes/dash.md', content: 'hello' });
    const found = await waitFor(async () => {
      const r = await w.api<{ run: Run; events: { type: string; trace_id: string }[] }>(
        `/v1/dashboard/runs/${runId}`,
        ADMIN_TOKEN,
      );
      return r.status === 200 && r.body.run.status === 'succeeded' ? r.body : undefined;
    }, 'the run to succeed in the dashboard');
    expect(found.run).toMatchObject({ run_id: runId, tool: 'fs.write_file', status: 'succeeded', tier: 1 });
    expect(found.events.map((e) => e.type)).toEqual([
      'task_received',
      'decision_made',
      'run_queued',
      'run_started',
      'run_succeeded',
    ]);
    expect(new Set(found.events.map((e) => e.trace_id))).toEqual(new Set([found.run.trace_id]));
    const recent = await w.api<{ runs: Run[] }>('/v1/dashboard/runs?view=recent', ADMIN_TOKEN);
    expect(recent.body.runs.map((r) => r.run_id)).toContain(runId);
    const active = await w.api<{ runs: Run[] }>('/v1/dashboard/runs?view=active', ADMIN_TOKEN);
    expect(active.body.runs.map((r) => r.run_id)).not.toContain(runId);

    const bad = await w.api<Problem>('/v1/dashboard/runs?view=sideways&limit=0', ADMIN_TOKEN);
    expect(bad.status).toBe(400);
    expect(bad.body.errors?.map((e) => e.path).sort()).toEqual(['limit', 'view']);
    const notUuid = await w.api<Problem>('/v1/dashboard/runs/xyz', ADMIN_TOKEN);
    expect(notUuid.status).toBe(400);
    expect(notUuid.body.errors).toEqual([{ path: 'run_id', message: 'must be a UUID' }]);
    expect((await w.api(`/v1/dashboard/runs/${newId()}`, ADMIN_TOKEN)).status).toBe(404);
  });

  it('votes with channel "dashboard": two approvers grant a tier-3 action and the run finishes', async () => {
    const alice = await w.operator('alice-dash');
    const bob = await w.operator('bob-dash');
    const runId = await w.submit('fs.write_file', { path: 'prod/dash.yaml', content: 'replicas: 2' });
    const pending = await waitFor(async () => {
      const r = await w.api<{ items: Approval[] }>('/v1/dashboard/inbox', ADMIN_TOKEN);
      return r.body.items.find((a) => a.run_id === runId);
    }, 'the approval in the inbox');

    const invalid = await w.api<Problem>(`/v1/dashboard/approvals/${pending.id}/approve`, alice.token, {
      method: 'POST',
      body: { comment: 42, extra: true },
    });
    expect(invalid.status).toBe(400);
    expect(invalid.body.errors?.map((e) => e.path).sort()).toEqual(['comment', 'extra']);
    expect(
      (await w.api<Problem>('/v1/dashboard/approvals/nope/approve', alice.token, { method: 'POST', body: {} })).body
        .errors,
    ).toEqual([{ path: 'id', message: 'must be a UUID' }]);

    const first = await w.api<Approval>(`/v1/dashboard/approvals/${pending.id}/approve`, alice.token, {
      method: 'POST',
      body: { comment: 'looks right' },
    });
    expect(first.status).toBe(200);
    expect(first.body.status).toBe('pending');
    expect(first.body.votes).toEqual([
      expect.objectContaining({
        operator: 'alice-dash',
        vote: 'approve',
        comment: 'looks right',
        channel: 'dashboard',
      }),
    ]);
    const twice = await w.api<Problem>(`/v1/dashboard/approvals/${pending.id}/approve`, alice.token, {
      method: 'POST',
      body: {},
    });
    expect(twice.status).toBe(409);

    const second = await w.api<Approval>(`/v1/dashboard/approvals/${pending.id}/approve`, bob.token, {
      method: 'POST',
      body: {},
    });
    expect(second.status).toBe(200);
    expect(second.body.status).toBe('granted');
    const done = await waitFor(
      async () => {
        const r = await w.api<{ run: Run; events: { type: string }[] }>(`/v1/dashboard/runs/${runId}`, ADMIN_TOKEN);
        return r.body.run?.status === 'succeeded' ? r.body : undefined;
      },
      'the granted run to succeed',
      20_000,
    );
    expect(done.run.approval_id).toBe(pending.id);
    expect(done.events.map((e) => e.type)).toEqual(
      expect.arrayContaining([
        'approval_requested',
        'approval_vote',
        'approval_granted',
        'run_queued',
        'run_succeeded',
      ]),
    );
    const inbox = await w.api<{ items: Approval[] }>('/v1/dashboard/inbox', ADMIN_TOKEN);
    expect(inbox.body.items.map((a) => a.id)).not.toContain(pending.id);
  });

  it('streams run events live to a signed-in operator, without tool output, and closes on revocation', async () => {
    const op = await w.operator('sse-viewer', ['viewer']);
    const stream = new StreamReader();
    await stream.open(w.url, op.token);
    expect(stream.status).toBe(200);
    const runId = await w.submit('fs.write_file', { path: 'notes/live.md', content: 'live' });
    await waitFor(
      () => stream.events.some((e) => e.run_id === runId && e.type === 'run_succeeded'),
      'the live run_succeeded',
    );
    const types = stream.events.filter((e) => e.run_id === runId).map((e) => e.type);
    expect(types).toEqual(['task_received', 'decision_made', 'run_queued', 'run_started', 'run_succeeded']);
    const succeeded = stream.events.find((e) => e.run_id === runId && e.type === 'run_succeeded')!;
    expect(succeeded.data.result).toMatchObject({
      output_omitted: true,
      output_hash: expect.stringMatching(/^sha256:/),
    });
    expect(succeeded.data.result).not.toHaveProperty('output');

    await w.publisher.publishEvent(
      makeEnvelope({
        type: 'operator_revoked',
        runId: null,
        correlationId: op.id,
        producer: 'test',
        traceId: newTraceId(),
        data: { operator_id: op.id, by: 'test' },
      }),
    );
    await waitFor(() => stream.closed, 'the stream to close after revocation');
    expect((await w.api('/v1/stream', op.token)).status).toBe(401);
    stream.close();

    const unauth = new StreamReader();
    await unauth.open(w.url, 'wop_bogus');
    expect(unauth.status).toBe(401);
  });

  it('lists its routes in /openapi.json; without Slack settings, Slack is off and its endpoints answer 503', async () => {
    const doc = (await w.api<{ paths: Record<string, unknown> }>('/openapi.json', undefined)).body;
    for (const p of [
      '/',
      '/v1/dashboard/runs',
      '/v1/dashboard/runs/{run_id}',
      '/v1/dashboard/approvals/{id}/approve',
      '/v1/stream',
      '/slack/interactions',
      '/slack/commands',
    ])
      expect(Object.keys(doc.paths)).toContain(p);
    const r = await fetch(`${w.url}/slack/commands`, {
      method: 'POST',
      body: 'text=pending',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(r.status).toBe(503);
    const consumers = await w.t.bus.jsm.consumers.list(w.t.subjects.streams.events).next();
    expect(consumers.map((c) => c.name).filter((n) => n.includes('slack'))).toEqual([]);
  });

  it('rebuilds the dashboard read model from the log to exactly the live tables', async () => {
    const runId = await w.submit('fs.read_file', { path: 'notes/dash.md' });
    await waitFor(async () => {
      const r = await w.api<{ run: Run }>(`/v1/dashboard/runs/${runId}`, ADMIN_TOKEN);
      return r.body.run?.status === 'succeeded';
    }, 'the marker run');
    await w.sys.stop('approvals');
    const ds = await openDataSource({ url: w.t.databaseUrl, schema: 'approvals' });
    try {
      const snapshot = async () => ({
        runs: await ds.query('SELECT * FROM approvals.dashboard_runs ORDER BY run_id'),
        events: await ds.query('SELECT run_id, seq, id, type FROM approvals.dashboard_events ORDER BY run_id, seq'),
      });
      const before = await snapshot();
      expect(before.runs.length).toBeGreaterThanOrEqual(4);
      await rebuildService(rebuildTarget, { ...process.env, ...w.sys.env() });
      expect(await snapshot()).toEqual(before);
    } finally {
      await ds.destroy();
      await w.sys.start('approvals');
    }
  });

  it('forgets finished runs past DASHBOARD_RETENTION_HOURS, and keeps active ones', async () => {
    const app = w.sys.apps.get('approvals')!;
    const active = await w.submit('git.push', { remote: 'origin' });
    await waitFor(
      async () =>
        (await w.api<{ run: Run }>(`/v1/dashboard/runs/${active}`, ADMIN_TOKEN)).body.run?.status ===
        'awaiting_approval',
      'the waiting run',
    );
    const finished = (
      await w.api<{ runs: Run[] }>('/v1/dashboard/runs?view=recent&limit=500', ADMIN_TOKEN)
    ).body.runs.filter((r) => ['succeeded', 'failed', 'denied', 'rejected', 'expired', 'cancelled'].includes(r.status));
    expect(finished.length).toBeGreaterThan(0);
    expect(await app.get(DashboardPruner).prune(new Date())).toBe(0); // nothing is a week old
    const gone = await app.get(DashboardPruner).prune(new Date(Date.now() + 169 * 3600_000));
    expect(gone).toBe(finished.length);
    const left = (await w.api<{ runs: Run[] }>('/v1/dashboard/runs?view=recent&limit=500', ADMIN_TOKEN)).body.runs;
    expect(left.map((r) => r.run_id)).toContain(active);
    expect(left.every((r) => !finished.some((f) => f.run_id === r.run_id))).toBe(true);
    expect((await w.api(`/v1/dashboard/runs/${finished[0]!.run_id}`, ADMIN_TOKEN)).status).toBe(404);
  });
});
