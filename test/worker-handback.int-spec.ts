import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import type { Action } from '@warden/contracts';
import { signingKeysOf } from '@warden/kernel';
import { createTestEnv, runEvents, testKeyring, waitFor, type TestEnv } from '@warden/testing';
import { signedCommand } from '../services/workers/test/signed-command';
import { Replicas } from './support/replicas';

const SENDS = 6;

interface Event {
  id: string;
  type: string;
  data: { worker_id?: string; attempt?: number; result?: { outcome_unknown?: boolean } };
}

/**
 * A worker replica is killed -9 holding a batch: one command's tool had begun (a long shell.exec),
 * the others were claimed but waiting for a slot (WORKER_CONCURRENCY=1). The begun one ends
 * `outcome_unknown`; the waiting ones go to the other replica and run there exactly once (each
 * `email.send` writes one .eml file: the outbox is counted).
 */
describe('worker hand-back: commands claimed but not begun by a killed replica run once on another', () => {
  let t: TestEnv;
  let replicas: Replicas;
  let db: Client;
  let outbox: string;
  let ws: string;

  beforeAll(async () => {
    t = await createTestEnv();
    outbox = mkdtempSync(join(tmpdir(), 'warden-handback-outbox-'));
    ws = mkdtempSync(join(tmpdir(), 'warden-handback-ws-'));
    replicas = new Replicas(
      {
        ...process.env,
        ...t.env,
        WARDEN_WORKSPACE: ws,
        WARDEN_ACK_WAIT_MS: '3000',
        WORKER_CONCURRENCY: '1',
        WORKER_SANDBOX: 'inline',
        WORKER_SHELL_ALLOW: 'sleep',
        WORKER_ROLE_TOOLS: 'dev=shell.exec,email.send',
        WORKER_ROLES: 'dev',
        WORKER_EMAIL_OUTBOX: outbox,
        WORKER_TOOL_TIMEOUT_MS: '60000',
        LOG_LEVEL: 'info',
      },
      21000 + Math.floor(Math.random() * 400) * 10,
    );
    db = new Client({ connectionString: t.databaseUrl });
    await db.connect();
  }, 60_000);
  afterAll(async () => {
    await replicas?.stopAll();
    await db?.end();
    await t?.cleanup();
    rmSync(outbox, { recursive: true, force: true });
    rmSync(ws, { recursive: true, force: true });
  });

  it('hands the waiting commands to the surviving replica; only the begun one ends outcome_unknown', async () => {
    const keys = signingKeysOf(testKeyring('orchestrator'), 'orchestrator');
    const slow = signedCommand(keys, { tool: 'shell.exec', args: { argv: ['sleep', '30'] } });
    const sends = Array.from({ length: SENDS }, (_, i) =>
      signedCommand(keys, {
        tool: 'email.send',
        args: { to: [`person${i}@example.com`], subject: `hand-back ${i}`, text: 'once' },
      } as Action),
    );
    // waiting in the stream before any worker starts: the first replica takes them as one batch
    for (const cmd of [slow, ...sends]) await t.bus.js.publish(t.subjects.workerExecute('dev'), JSON.stringify(cmd));

    await replicas.start('workers', 1, { WORKER_ID: 'replica-1' });
    const claims = async () =>
      (
        await db.query<{ run_id: string; began_at: Date | null; worker_id: string }>(
          'SELECT run_id, began_at, worker_id FROM "workers".executions',
        )
      ).rows;
    // the slow command has begun, the sends are claimed and wait for the one slot
    await waitFor(
      async () => {
        const rows = await claims();
        return rows.length === SENDS + 1 && rows.some((r) => r.run_id === slow.run_id && r.began_at) ? rows : undefined;
      },
      'replica-1 to claim the batch and begin the slow command',
      30_000,
    );
    const waiting = (await claims()).filter((r) => !r.began_at);
    expect(waiting.map((r) => r.run_id).sort()).toEqual(sends.map((c) => c.run_id).sort());
    expect(readdirSync(outbox)).toEqual([]);

    await replicas.kill9('workers-1');
    await replicas.start('workers', 2, { WORKER_ID: 'replica-2' });

    const terminal = async (runId: string) =>
      ((await runEvents(t.bus, t.subjects, runId)) as unknown as Event[]).filter(
        (e) => e.type === 'run_succeeded' || e.type === 'run_failed',
      );
    for (const cmd of [slow, ...sends])
      await waitFor(async () => (await terminal(cmd.run_id)).length > 0, `the end of ${cmd.run_id}`, 60_000);
    await new Promise((r) => setTimeout(r, 1500)); // a duplicate, if any, would arrive now

    for (const cmd of sends) {
      const ends = await terminal(cmd.run_id);
      expect(ends.map((e) => e.type)).toEqual(['run_succeeded']);
    }
    const slowEnd = await terminal(slow.run_id);
    expect(slowEnd).toEqual([expect.objectContaining({ type: 'run_failed' })]);
    expect(slowEnd[0]!.data.result?.outcome_unknown).toBe(true);

    // side effects, not events: one .eml per send, none twice
    const files = readdirSync(outbox).filter((f) => f.endsWith('.eml'));
    expect(files).toHaveLength(SENDS);
    const rows = (
      await db.query<{ run_id: string; status: string; attempt: number; worker_id: string }>(
        'SELECT run_id, status, attempt, worker_id FROM "workers".executions ORDER BY run_id',
      )
    ).rows;
    for (const cmd of sends)
      expect(rows.find((r) => r.run_id === cmd.run_id)).toMatchObject({
        status: 'succeeded',
        attempt: 2,
        worker_id: 'replica-2',
      });
    expect(rows.find((r) => r.run_id === slow.run_id)).toMatchObject({ status: 'failed', attempt: 1 });
    // the surviving replica says what it did
    const log = replicas.logs.get('workers-2')!.join('');
    expect(log.match(/taking over a claimed run whose worker stopped before its tool began/g)).toHaveLength(SENDS);
    expect(log).toContain('a non-idempotent run was interrupted mid-execution; failing it outcome_unknown');
  }, 180_000);
});
