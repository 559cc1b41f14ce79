import {
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newId } from '@warden/kernel';
import { createTestEnv, runEvents, waitFor, type TestEnv } from '@warden/testing';
import { System } from './support/system';

const ADMIN = 'symlink-admin-token-0123456789abcdef';
const TERMINAL = ['succeeded', 'failed', 'denied', 'rejected', 'expired', 'cancelled'];

interface Run {
  status: string;
  result?: { output: unknown; error?: { code: string; message: string } };
  decision?: {
    outcome: string;
    tier: number;
    rule_ids: string[];
    reasons: string[];
    constraints: Record<string, unknown>;
  };
  approval?: { id: string };
}

/**
 * Issue 10 part 3: a symlink (or hard link) must not launder a write into prod/. Policy judges the
 * path the worker will touch; the worker refuses a path that changed since the decision. All five
 * services on real NATS/Postgres/Redis, workers in their sandboxes.
 */
describe('paths are judged where they really lead', () => {
  let t: TestEnv;
  let sys: System;
  let base: string;
  let ws: string;

  beforeAll(async () => {
    t = await createTestEnv();
    base = mkdtempSync(join(tmpdir(), 'warden-symlink-'));
    ws = join(base, 'ws');
    mkdirSync(join(ws, 'prod'), { recursive: true });
    mkdirSync(join(base, 'outside'));
    writeFileSync(join(ws, 'prod/app.yaml'), 'replicas: 3\n');
    sys = new System(t, { WARDEN_WORKSPACE: ws, WARDEN_BOOTSTRAP_ADMIN_TOKEN: ADMIN });
    await sys.startAll();
  });
  afterAll(async () => {
    await sys?.stopAll();
    await t?.cleanup();
    if (base) rmSync(base, { recursive: true, force: true });
  });

  async function submit(args: Record<string, unknown>, tool = 'fs.write_file') {
    const p = {
      run_id: newId(),
      agent: { id: 'agent-symlink', role: 'dev' },
      session_id: `sess-${newId()}`,
      action: { tool, args },
      intent: 'symlink test',
    };
    await t.bus.js.publish(t.subjects.ingestTasks, JSON.stringify(p), { msgID: newId() });
    return p.run_id;
  }

  async function getRun(runId: string): Promise<Run | undefined> {
    const r = await fetch(`${sys.url('orchestrator')}/v1/runs/${runId}`, {
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    return r.status === 200 ? ((await r.json()) as Run) : undefined;
  }

  const inStatus = (runId: string, statuses: string[], what: string) =>
    waitFor(
      async () => {
        const run = await getRun(runId);
        return run && statuses.includes(run.status) ? run : undefined;
      },
      what,
      30_000,
    );

  async function operator(name: string): Promise<string> {
    const r = await fetch(`${sys.url('approvals')}/v1/operators`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name, roles: ['approver'], max_tier: 3 }),
    });
    expect(r.status).toBe(201);
    return ((await r.json()) as { token: string }).token;
  }

  const approve = (token: string, approvalId: string) =>
    fetch(`${sys.url('approvals')}/v1/approvals/${approvalId}/approve`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: '{}',
    });

  it('ln -s prod vlink; fs.write_file vlink/sneaky.yaml escalates at tier 3, writes nothing until two approve', async () => {
    symlinkSync('prod', join(ws, 'vlink'));
    const runId = await submit({ path: 'vlink/sneaky.yaml', content: 'sneaky' });
    const run = await inStatus(runId, ['awaiting_approval', ...TERMINAL], 'the write through vlink to be decided');
    expect(run.status).toBe('awaiting_approval');
    expect(run.decision).toMatchObject({
      outcome: 'escalate',
      tier: 3,
      rule_ids: ['fs-write-prod'],
      constraints: { required_votes: 2, resolved_paths: { 'vlink/sneaky.yaml': 'prod/sneaky.yaml' } },
    });
    expect(existsSync(join(ws, 'prod/sneaky.yaml'))).toBe(false);

    // approved, it runs where it was judged to run
    const approvalId = run.approval!.id;
    await waitFor(
      async () =>
        (
          await fetch(`${sys.url('approvals')}/v1/approvals/${approvalId}`, {
            headers: { authorization: `Bearer ${ADMIN}` },
          })
        ).status === 200,
      'the approval in the inbox',
    );
    expect((await approve(await operator('alice-symlink'), approvalId)).status).toBe(200);
    expect(existsSync(join(ws, 'prod/sneaky.yaml'))).toBe(false);
    expect((await approve(await operator('bob-symlink'), approvalId)).status).toBe(200);
    const done = await inStatus(runId, TERMINAL, 'the approved write to finish');
    expect(done.status).toBe('succeeded');
    expect(readFileSync(join(ws, 'prod/sneaky.yaml'), 'utf8')).toBe('sneaky');
  });

  it('a chain of links, and .. through a link, are judged where they lead', async () => {
    symlinkSync('vlink', join(ws, 'chain'));
    mkdirSync(join(ws, 'notes'));
    symlinkSync('../prod', join(ws, 'notes/up'));
    for (const [path, real] of [
      ['chain/a.yaml', 'prod/a.yaml'],
      ['notes/up/b.yaml', 'prod/b.yaml'],
      ['vlink/sub/../c.yaml', 'prod/c.yaml'],
    ] as const) {
      const runId = await submit({ path, content: 'x' });
      const run = await inStatus(runId, ['awaiting_approval', ...TERMINAL], `${path} to be decided`);
      expect(run.status).toBe('awaiting_approval');
      expect(run.decision).toMatchObject({ tier: 3, rule_ids: ['fs-write-prod'] });
      expect(Object.values(run.decision!.constraints.resolved_paths as Record<string, string>)).toEqual([real]);
    }
    expect(existsSync(join(ws, 'prod/a.yaml'))).toBe(false);
  });

  it('a link leaving the workspace, and a hard link into prod/, are denied; prod/ is unchanged', async () => {
    symlinkSync(join(base, 'outside'), join(ws, 'out'));
    linkSync(join(ws, 'prod/app.yaml'), join(ws, 'app-copy.yaml'));
    const outRun = await submit({ path: 'out/x.txt', content: 'x' });
    const hardRun = await submit({ path: 'app-copy.yaml', content: 'replicas: 0\n' });
    const hardRead = await submit({ path: 'app-copy.yaml' }, 'fs.read_file');
    for (const [runId, reason] of [
      [outRun, 'leads outside the workspace through a symlink'],
      [hardRun, 'has 2 hard links'],
      [hardRead, 'has 2 hard links'],
    ] as const) {
      const run = await inStatus(runId, TERMINAL, 'the decision');
      expect(run.status).toBe('denied');
      expect(run.decision?.rule_ids).toEqual(['workspace-escape']);
      expect(run.decision?.reasons.join()).toContain(reason);
    }
    expect(existsSync(join(base, 'outside/x.txt'))).toBe(false);
    expect(readFileSync(join(ws, 'prod/app.yaml'), 'utf8')).toBe('replicas: 3\n');
  });

  it('TOCTOU: allowed for a plain directory, which becomes a link to prod/ before execution → refused, no file in prod/', async () => {
    mkdirSync(join(ws, 'plain'));
    await sys.stop('workers');
    try {
      const runId = await submit({ path: 'plain/x.yaml', content: 'sneaky' });
      const queued = await inStatus(runId, ['queued', ...TERMINAL], 'the plain write to be queued');
      expect(queued.status).toBe('queued');
      expect(queued.decision).toMatchObject({
        outcome: 'allow',
        tier: 1,
        constraints: { resolved_paths: { 'plain/x.yaml': 'plain/x.yaml' } },
      });
      // the swap, between the decision and the execution
      rmSync(join(ws, 'plain'), { recursive: true });
      symlinkSync('prod', join(ws, 'plain'));
      await sys.start('workers');
      const run = await inStatus(runId, TERMINAL, 'the queued write to end');
      expect(run.status).toBe('failed');
      expect(run.result?.error?.code).toBe('PATH.CHANGED_SINCE_DECISION');
      expect(existsSync(join(ws, 'prod/x.yaml'))).toBe(false);
      const types = (await runEvents(t.bus, t.subjects, runId)).map((e) => e.type);
      expect(types).toContain('run_failed');
    } finally {
      if (!sys.apps.has('workers')) await sys.start('workers');
    }
  });

  it('a hard link into prod/ made between decision and execution is refused by the worker', async () => {
    mkdirSync(join(ws, 'docs'));
    await sys.stop('workers');
    try {
      const runId = await submit({ path: 'docs/app.yaml', content: 'replicas: 0\n' });
      const queued = await inStatus(runId, ['queued', ...TERMINAL], 'the docs write to be queued');
      expect(queued.status).toBe('queued');
      linkSync(join(ws, 'prod/app.yaml'), join(ws, 'docs/app.yaml'));
      await sys.start('workers');
      const run = await inStatus(runId, TERMINAL, 'the queued write to end');
      expect(run.status).toBe('failed');
      expect(run.result?.error?.code).toBe('PATH.HARDLINK');
      expect(readFileSync(join(ws, 'prod/app.yaml'), 'utf8')).toBe('replicas: 3\n');
    } finally {
      if (!sys.apps.has('workers')) await sys.start('workers');
    }
  });
});
