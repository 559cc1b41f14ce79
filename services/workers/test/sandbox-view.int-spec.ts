import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { INestApplication } from '@nestjs/common';
import type { Action, RunResult } from '@warden/contracts';
import { signingKeysOf, type SigningKeys } from '@warden/kernel';
import { startService } from '@warden/runtime';
import { createTestEnv, runEvents, testKeyring, waitFor, type TestEnv } from '@warden/testing';
import { AppModule } from '../src/app.module';
import { loadConfig } from '../src/config';
import { signedCommand } from './signed-command';

interface Event {
  type: string;
  data: { result?: RunResult };
}
interface ShellOut {
  exit_code: number | null;
  stdout: string;
  stderr: string;
}

/** Host processes whose command line contains `needle` (NUL-separated argv). */
function hostProcesses(needle: string): number[] {
  const out: number[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(needle)) out.push(Number(pid));
    } catch {
      // gone
    }
  }
  return out;
}

const root = process.getuid?.() === 0;

/**
 * The attacks of issue 10 (parts 0 and 6) against a real worker (sandboxes as in production: a
 * dedicated user, own mount/PID/network namespaces, cgroups), on real NATS and Postgres. Needs
 * root (it is the root worker whose sandboxes must lose it) and `npm run build`.
 */
(root ? describe : describe.skip)('sandbox: no root, no host files, nothing outlives it (real worker)', () => {
  let t: TestEnv;
  let keys: SigningKeys;
  let base: string;
  let ws: string;
  let other: string;
  let secrets: string;
  let app: INestApplication;

  const events = async (runId: string) => (await runEvents(t.bus, t.subjects, runId)) as unknown as Event[];
  const execute = async (action: Action): Promise<RunResult> => {
    const cmd = signedCommand(keys, action);
    await t.bus.js.publish(t.subjects.workerExecute('dev'), JSON.stringify(cmd));
    const done = await waitFor(
      async () => (await events(cmd.run_id)).find((e) => e.type === 'run_succeeded' || e.type === 'run_failed'),
      `completion of ${action.tool}`,
      30_000,
      100,
    );
    return done.data.result!;
  };
  const sh = async (script: string, timeout_ms?: number) =>
    debug(
      await execute({
        tool: 'shell.exec',
        args: { argv: ['sh', '-c', script], ...(timeout_ms ? { timeout_ms } : {}) },
      }),
    );
  const debug = (r: RunResult) => {
    if (process.env.DEBUG_VIEW) console.log(JSON.stringify(r));
    return r;
  };
  const write = (p: string, content: string) => execute({ tool: 'fs.write_file', args: { path: p, content } });

  beforeAll(async () => {
    t = await createTestEnv();
    keys = signingKeysOf(testKeyring('orchestrator'), 'orchestrator');
    base = mkdtempSync(path.join(tmpdir(), 'warden-view-'));
    ws = path.join(base, 'ws');
    other = path.join(base, 'research-ws');
    secrets = path.join(base, 'var');
    mkdirSync(other);
    writeFileSync(path.join(other, 'notes.txt'), 'OTHER-ROLE-SECRET');
    mkdirSync(secrets);
    writeFileSync(path.join(secrets, 'signing.key'), 'SIGNING-KEY-SECRET');
    process.env.WARDEN_TEST_WORKER_SECRET = 'WORKER-ENV-SECRET';
    const config = loadConfig({
      ...process.env,
      ...t.env,
      WARDEN_WORKSPACE: ws,
      WORKER_ID: 'view-test',
      WORKER_ROLES: 'dev',
      WORKER_SHELL_ALLOW: 'sh',
      WORKER_SANDBOX_WARM: '1',
      WORKER_SANDBOX_NPROC: '200',
      WORKER_TOOL_TIMEOUT_MS: '8000',
      WORKERS_PORT: '0',
    });
    app = await startService(AppModule.forRoot(config), { service: 'workers', port: 0 });
  });

  afterAll(async () => {
    await app?.close();
    await t?.cleanup();
    delete process.env.WARDEN_TEST_WORKER_SECRET;
    rmSync(base, { recursive: true, force: true });
  });

  it("sees only its workspace: not /etc/shadow, another role's files, the worker's environment or its keys", async () => {
    const r = await sh(
      [
        'id -u',
        'grep CapBnd /proc/self/status',
        'cat /etc/shadow',
        `cat ${other}/notes.txt`,
        `cat /proc/${process.pid}/environ`,
        `cat ${secrets}/signing.key`,
        `cat ${path.resolve(__dirname, '../../../var/signing.key')}`,
        "tr '\\0' ' ' < /proc/1/environ",
        'env',
        'echo written > own.txt && cat own.txt',
      ].join('; '),
    );
    const out = r.output as ShellOut;
    const all = out.stdout + out.stderr;
    expect(out.stdout.split('\n')[0]).not.toBe('0');
    expect(out.stdout).toMatch(/CapBnd:\s+0000000000000000/);
    expect(all).not.toMatch(/root:[^:\n]*:\d+:/); // a shadow line
    for (const secret of ['OTHER-ROLE-SECRET', 'WORKER-ENV-SECRET', 'SIGNING-KEY-SECRET', 'DATABASE_URL', 'NATS_URL']) {
      expect(all).not.toContain(secret);
    }
    expect(out.stdout).toContain('written');
    expect(readFileSync(path.join(ws, 'own.txt'), 'utf8')).toBe('written\n');
  });

  it('cannot get back into the host: no network namespace of the worker, no nsenter, no host /proc', async () => {
    const r = await sh(
      'nsenter -t 1 -n true; echo "nsenter=$?"; ls /proc | grep -c "^[0-9]"; cat /proc/net/dev | grep -c ":"',
    );
    const out = r.output as ShellOut;
    expect(out.stdout).toMatch(/nsenter=[1-9]/);
    // its own PID namespace: a handful of processes, not the host's
    expect(Number(out.stdout.split('\n')[1])).toBeLessThan(10);
    // its own network namespace: loopback only
    expect(Number(out.stdout.split('\n')[2])).toBe(1);
  });

  it('a setsid child is dead once its execution timed out', async () => {
    const marker = `4242.${Date.now() % 1000}`;
    const r = await sh(`setsid sleep ${marker} & sleep 60`, 1500);
    expect(r.error?.code).toBe('TOOL.TIMEOUT');
    await waitFor(async () => hostProcesses(`sleep\0${marker}`).length === 0, 'the setsid child to die', 5000, 100);
  });

  it('a fork past the process limit fails', async () => {
    const r = await sh('i=0; while [ $i -lt 400 ]; do sleep 20 >/dev/null 2>&1 & i=$((i+1)); done; echo "started all"');
    const out = r.output as ShellOut;
    expect(out.stdout).not.toContain('started all');
    expect(out.stderr).toMatch(/fork|resource temporarily unavailable/i);
    // the limit is shared by the worker's sandboxes: the next execution works again once they died
    await waitFor(async () => (await sh('true')).error === undefined, 'sandboxes to recover', 30_000, 200);
  });

  it('a planted bare-repository layout never runs its filter or textconv (git.add, git.diff)', async () => {
    const outside = path.join(base, 'pwned-outside');
    const inside = path.join(ws, 'pwned-inside');
    const config = [
      '[core]',
      '\tbare = false',
      `\tworktree = ${ws}`,
      '[filter "x"]',
      `\tclean = sh -c 'touch ${outside} ${inside}; cat'`,
      '[diff "x"]',
      `\ttextconv = sh -c 'touch ${outside} ${inside}; cat'`,
      '',
    ].join('\n');
    for (const [p, content] of [
      ['config', config],
      ['.gitattributes', '* filter=x diff=x\n'],
      ['a.txt', 'one\n'],
      ['HEAD', 'ref: refs/heads/main\n'],
      ['objects/info/packs', ''],
    ]) {
      expect((await write(p!, content!)).error).toBeUndefined();
    }
    // the write that would complete the layout is refused
    expect((await write('refs/heads/main', '')).error?.code).toBe('PATH.GIT_INTERNAL');
    // complete it behind the tools' back: still no git repository the worker would use
    mkdirSync(path.join(ws, 'refs', 'heads'), { recursive: true });
    expect((await execute({ tool: 'git.add', args: { paths: ['a.txt'] } })).error?.code).toBe('GIT.NO_REPOSITORY');
    expect((await execute({ tool: 'git.diff', args: {} })).error?.code).toBe('GIT.NO_REPOSITORY');
    expect(existsSync(outside)).toBe(false);
    expect(existsSync(inside)).toBe(false);
  });

  it('a .git/config planted by a program is refused; the worker repository is read-only to programs', async () => {
    const marker = path.join(ws, 'pwned-git');
    await write('a.txt', 'one\n');
    await sh(
      `mkdir -p .git/objects .git/refs && echo 'ref: refs/heads/main' > .git/HEAD && printf '[filter "x"]\\n\\tclean = touch ${marker}\\n' > .git/config`,
    );
    expect((await execute({ tool: 'git.add', args: { paths: ['a.txt'] } })).error?.code).toBe('GIT.CONFIG_REFUSED');
    expect(existsSync(marker)).toBe(false);
    // a real repository: programs cannot write it, the git tools can
    rmSync(path.join(ws, '.git'), { recursive: true, force: true });
    execFileSync('git', ['init', '-q', '-b', 'main', ws]);
    const owner = execFileSync('stat', ['-c', '%u:%g', ws], { encoding: 'utf8' }).trim();
    execFileSync('chown', ['-R', owner, path.join(ws, '.git')]);
    // sandboxes started after the .git appeared see it read-only (warm ones from before may not)
    await waitFor(
      async () => ((await sh('grep -c "/.git " /proc/self/mountinfo')).output as ShellOut).stdout.trim() === '1',
      'a sandbox with the repository mounted read-only',
      20_000,
      0,
    );
    const planted = await sh('echo "[core]" >> .git/config; touch .git/hooks/x');
    expect((planted.output as ShellOut).stderr).toMatch(/Read-only file system/);
    expect(readFileSync(path.join(ws, '.git', 'config'), 'utf8')).not.toMatch(/\[core\]\n\[core\]/);
    expect((await execute({ tool: 'git.add', args: { paths: ['a.txt'] } })).error).toBeUndefined();
    const commit = await execute({ tool: 'git.commit', args: { message: 'from the sandbox' } });
    expect(commit.error).toBeUndefined();
    expect(
      execFileSync('git', ['-c', 'safe.directory=*', '-C', ws, 'log', '--format=%s'], { encoding: 'utf8' }),
    ).toContain('from the sandbox');
  });
});
