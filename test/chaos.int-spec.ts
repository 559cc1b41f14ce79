import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newId } from '@warden/kernel';
import { rebuildService } from '@warden/runtime';
import { openDataSource } from '@warden/persistence';
import { createTestEnv, readAll, waitFor, type TestEnv } from '@warden/testing';
import { rebuildTarget } from '../services/orchestrator/src/projections';
import { migrations } from '../services/orchestrator/src/migrations';
import { Processes } from './support/processes';

const TERMINAL_EVENTS = [
  'run_succeeded',
  'run_failed',
  'run_denied',
  'run_cancelled',
  'approval_rejected',
  'approval_expired',
];
const RUNS = 240;

describe('kill -9 mid-stream: every run still ends exactly once, and read models equal a rebuild', () => {
  let t: TestEnv;
  let procs: Processes;
  let workspace: string;

  beforeAll(async () => {
    t = await createTestEnv();
    workspace = mkdtempSync(join(tmpdir(), 'warden-chaos-'));
    writeFileSync(join(workspace, 'in.txt'), 'chaos input\n');
    procs = new Processes(
      { ...process.env, ...t.env, WARDEN_WORKSPACE: workspace, LOG_LEVEL: 'warn', WARDEN_ACK_WAIT_MS: '3000' },
      18300 + Math.floor(Math.random() * 500) * 5,
    );
    for (const s of ['ingest', 'policy', 'orchestrator', 'approvals', 'workers'] as const) await procs.start(s);
  }, 120_000);
  afterAll(async () => {
    await procs?.stopAll();
    await t?.cleanup();
  });

  it('survives SIGKILL of orchestrator, workers, policy and ingest while runs are in flight', async () => {
    const runIds: string[] = [];
    const writes = new Map<string, string>();
    const publishes: Promise<unknown>[] = [];
    for (let i = 0; i < RUNS; i++) {
      const runId = newId();
      runIds.push(runId);
      const write = i % 2 === 0;
      if (write) writes.set(runId, `out/${runId}.txt`);
      const body = {
        run_id: runId,
        agent: { id: `agent-${i % 7}`, role: write ? 'dev' : 'research' },
        action: write
          ? { tool: 'fs.write_file', args: { path: `out/${runId}.txt`, content: runId } }
          : { tool: 'fs.read_file', args: { path: 'in.txt' } },
      };
      publishes.push(t.bus.js.publish(t.subjects.ingestTasks, JSON.stringify(body), { msgID: runId }));
    }
    await Promise.all(publishes);

    const terminalCount = async () =>
      (await readAll(t.bus, t.subjects.streams.events, t.subjects.runEvents)).filter((m) =>
        TERMINAL_EVENTS.includes(m.subject.split('.').pop()!),
      ).length;
    await waitFor(async () => (await terminalCount()) >= RUNS / 5, 'a fifth of the runs to finish', 60_000);
    await procs.kill9('orchestrator');
    await procs.kill9('workers');
    await procs.kill9('policy');
    await procs.start('workers');
    await procs.start('orchestrator');
    await waitFor(async () => (await terminalCount()) >= RUNS / 2, 'half of the runs to finish', 60_000);
    await procs.kill9('ingest');
    await procs.kill9('workers');
    await procs.start('ingest');
    await procs.start('policy');
    await procs.start('workers');

    await waitFor(async () => (await terminalCount()) >= RUNS, 'every run to finish', 120_000);
    // let any straggler (a duplicate that should not exist) arrive before counting
    await new Promise((r) => setTimeout(r, 1500));
    const events = (await readAll(t.bus, t.subjects.streams.events, t.subjects.runEvents)).map(
      (m) => m.json() as { id: string; type: string; run_id: string; data: { result?: { outcome_unknown?: boolean } } },
    );
    const byRun = new Map<string, typeof events>();
    for (const e of events) byRun.set(e.run_id, [...(byRun.get(e.run_id) ?? []), e]);
    expect(byRun.size).toBe(RUNS);
    for (const runId of runIds) {
      const evs = byRun.get(runId)!;
      const terminal = evs.filter((e) => TERMINAL_EVENTS.includes(e.type));
      expect({ runId, terminal: terminal.map((e) => e.type) }).toEqual({ runId, terminal: [expect.any(String)] });
      // no event id twice, and never two different starts
      expect(new Set(evs.map((e) => e.id)).size).toBe(evs.length);
      expect(evs.filter((e) => e.type === 'run_started').length).toBeLessThanOrEqual(1);
      for (const type of ['task_received', 'decision_made', 'run_queued'])
        expect(evs.filter((e) => e.type === type)).toHaveLength(1);
      const end = terminal[0]!;
      if (writes.has(runId) && end.type === 'run_succeeded')
        expect(readFileSync(join(workspace, writes.get(runId)!), 'utf8')).toBe(runId);
      if (end.type === 'run_failed') expect(end.data.result?.outcome_unknown).toBe(true);
    }

    // the orchestrator's read model agrees with the log, and equals a rebuild from it
    await procs.stop('orchestrator');
    const ds = await openDataSource({ url: t.databaseUrl, schema: 'orchestrator', migrations });
    const snapshot = async () => ({
      runs: await ds.query('SELECT * FROM orchestrator.runs ORDER BY run_id'),
      events: await ds.query('SELECT id, run_id, seq, type FROM orchestrator.run_events ORDER BY id'),
    });
    const live = await snapshot();
    expect(live.runs).toHaveLength(RUNS);
    for (const row of live.runs as { run_id: string; status: string }[]) {
      const end = byRun.get(row.run_id)!.find((e) => TERMINAL_EVENTS.includes(e.type))!;
      expect(row.status).toBe(end.type.replace('run_', '').replace('approval_', ''));
    }
    await rebuildService(rebuildTarget, { ...process.env, ...t.env });
    expect(await snapshot()).toEqual(live);
    await ds.destroy();
  }, 300_000);
});
