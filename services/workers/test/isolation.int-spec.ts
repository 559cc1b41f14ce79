import 'reflect-metadata';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { Client } from 'pg';
import type { Action, RunResult } from '@warden/contracts';
import { signingKeysOf, type SigningKeys } from '@warden/kernel';
import { startService } from '@warden/runtime';
import { createTestEnv, runEvents, waitFor, type TestEnv, testKeyring } from '@warden/testing';
import { AppModule } from '../src/app.module';
import { loadConfig } from '../src/config';
import { SandboxPool } from '../src/sandbox/sandbox-pool';
import { signedCommand } from './signed-command';

interface Event {
  type: string;
  data: { result?: RunResult; worker_id?: string; code?: string };
}

function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe('isolation and at-most-once across processes (real NATS + Postgres)', () => {
  let t: TestEnv;
  let keys: SigningKeys;
  let base: string;
  let ws: string;
  let db: Client;
  const apps: INestApplication[] = [];
  const procs: ChildProcess[] = [];

  const env = (id: string): Record<string, string | undefined> => ({
    ...process.env,
    ...t.env,
    WARDEN_WORKSPACE: ws,
    WORKER_ID: id,
    WORKER_ROLES: 'dev',
    WORKER_SHELL_ALLOW: 'sh',
    WORKER_SANDBOX_WARM: '1',
    WARDEN_ACK_WAIT_MS: '2000',
  });
  const startInProcess = async (id: string) => {
    const app = await startService(AppModule.forRoot(loadConfig({ ...env(id), WORKERS_PORT: '0' })), {
      service: 'workers',
      port: 0,
    });
    apps.push(app);
    return app;
  };
  const events = async (runId: string) => (await runEvents(t.bus, t.subjects, runId)) as unknown as Event[];
  const completion = (runId: string, ms = 20_000) =>
    waitFor(
      async () => (await events(runId)).find((e) => e.type === 'run_succeeded' || e.type === 'run_failed'),
      `completion of ${runId}`,
      ms,
      100,
    );
  const publish = (cmd: unknown) => t.bus.js.publish(t.subjects.workerExecute('dev'), JSON.stringify(cmd));
  const sh = (script: string): Action => ({ tool: 'shell.exec', args: { argv: ['sh', '-c', script] } });
  const lines = (f: string) =>
    existsSync(path.join(ws, f)) ? readFileSync(path.join(ws, f), 'utf8').split('\n').filter(Boolean) : [];

  beforeAll(async () => {
    t = await createTestEnv();
    keys = signingKeysOf(testKeyring('orchestrator'), 'orchestrator');
    base = mkdtempSync(path.join(tmpdir(), 'warden-iso-'));
    ws = path.join(base, 'ws');
    db = new Client({ connectionString: t.databaseUrl });
  });

  afterAll(async () => {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    for (const a of apps) await a.close();
    await db.end().catch(() => undefined);
    await t?.cleanup();
    rmSync(base, { recursive: true, force: true });
  });

  it('a sandbox past its wall-clock budget is killed with its whole process group', async () => {
    const pidFile = path.join(base, 'gc.pid');
    const pool = new SandboxPool({
      prefix: [],
      warm: 0,
      reuse: 100,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PID_FILE: pidFile },
      entry: path.join(__dirname, 'fixtures', 'hang-sandbox.js'),
    });
    try {
      const result = await pool.execute(
        {
          action: { tool: 'shell.exec', args: {} },
          tools: [],
          root: base,
          constraints: {},
          settings: {} as never,
          timeoutMs: 300,
        },
        { idempotent: false, spawns: true },
      );
      expect(result).toMatchObject({ error: { code: 'TOOL.TIMEOUT' }, outcome_unknown: true });
      const gc = Number(readFileSync(pidFile, 'utf8'));
      await waitFor(async () => !alive(gc), 'grandchild to die', 3000, 50);
    } finally {
      await pool.close();
    }
  });

  it('two workers and duplicate deliveries: one execution', async () => {
    await db.connect();
    await Promise.all([startInProcess('worker-a'), startInProcess('worker-b')]);
    const cmd = signedCommand(keys, sh('echo run >> dup.txt'));
    await Promise.all([publish(cmd), publish(cmd), publish(cmd), publish(cmd)]);
    await completion(cmd.run_id);
    await waitFor(
      async () => (await events(cmd.run_id)).filter((e) => e.type === 'command_refused').length === 3,
      'the three copies refused',
      20_000,
      100,
    );
    expect(lines('dup.txt')).toEqual(['run']);
    const types = (await events(cmd.run_id)).map((e) => e.type).filter((x) => x.startsWith('run_'));
    expect(types).toEqual(['run_started', 'run_succeeded']);
    const rows = await db.query('SELECT attempt, status FROM "workers".executions WHERE run_id = $1', [cmd.run_id]);
    expect(rows.rows).toEqual([{ attempt: 1, status: 'succeeded' }]);
    for (const a of apps.splice(0)) await a.close();
  });

  it('kill -9 of a worker mid-execution: the run fails outcome_unknown and never runs again', async () => {
    const main = path.join(__dirname, '..', 'dist', 'main.js');
    const start = () => {
      const p = spawn(process.execPath, [main], {
        env: { ...env(`killed-${procs.length}`), WORKERS_PORT: '0' } as NodeJS.ProcessEnv,
        stdio: 'ignore',
      });
      procs.push(p);
      return p;
    };
    const first = start();
    // $$ is a PID of the sandbox's own PID namespace: find the program on the host by a unique argv
    const marker = `60.${process.pid % 1000}`;
    const cmd = signedCommand(keys, sh(`echo $$ >> effect.txt; sleep ${marker}`));
    await publish(cmd);
    // the effect happened and the tool is still running
    await waitFor(async () => lines('effect.txt').length === 1, 'the write to happen', 20_000, 50);
    const sleeping = () =>
      readdirSync('/proc')
        .filter((d) => /^\d+$/.test(d))
        .filter((d) => {
          try {
            return readFileSync(`/proc/${d}/cmdline`, 'utf8') === `sleep\0${marker}\0` && alive(Number(d));
          } catch {
            return false;
          }
        });
    expect(sleeping()).toHaveLength(1);
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    // the sandbox and the program it started go with their worker
    await waitFor(async () => sleeping().length === 0, 'the sandboxed program to die with its worker', 5000, 50);
    start();
    const done = await completion(cmd.run_id, 30_000);
    expect(done).toMatchObject({
      type: 'run_failed',
      data: { result: { outcome_unknown: true, error: { code: 'OUTCOME_UNKNOWN' } } },
    });
    await new Promise((r) => setTimeout(r, 1500));
    expect(lines('effect.txt')).toHaveLength(1);
    const types = (await events(cmd.run_id)).map((e) => e.type);
    expect(types.filter((x) => x === 'run_failed')).toHaveLength(1);
    expect(types.filter((x) => x === 'run_succeeded')).toHaveLength(0);
  });
});
