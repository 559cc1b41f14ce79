import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { newId } from '@warden/kernel';
import { createTestEnv, waitFor, type TestEnv } from '@warden/testing';
import { System } from './support/system';

const ADMIN = 'compute-admin-token-0123456789abcdef';
const TERMINAL = ['succeeded', 'failed', 'denied', 'rejected', 'expired', 'cancelled'];
const STRICT = resolve(__dirname, '../deploy/policies/examples/strict.yaml');

interface Run {
  status: string;
  decision?: { outcome: string; rewritten_action?: { tool: string; args: Record<string, unknown> } };
  result?: { output: unknown; truncated?: boolean; error?: { code: string; message: string } };
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', ['-c', 'safe.directory=*', '-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], {
    cwd,
    encoding: 'utf8',
  }).trim();

/**
 * Every compute recipe of deploy/policies/examples/strict.yaml, decided by policy and EXECUTED by the
 * workers (all five services, real NATS/Postgres/Redis, sandboxed tools), with the effect a user sees
 * asserted: the draft stored and not sent, the canary deployed with its percent, the pull request
 * opened from the branch pushed for it, the force push done with a lease, the prod/ write landed in
 * staging/. Then the decision constraints bind: a slow program killed at timeout_seconds, output cut
 * at max_output_bytes, variables outside env_allow absent.
 */
describe('compute recipes execute end to end (strict.yaml)', () => {
  let t: TestEnv;
  let sys: System;
  let base: string;
  let workspace: string;
  let remote: string;
  let outbox: string;
  let endpoint: Server;
  let daemon: ChildProcess;
  const posted: { path: string; body: Record<string, unknown> }[] = [];

  beforeAll(async () => {
    t = await createTestEnv();
    base = mkdtempSync(join(tmpdir(), 'warden-compute-'));
    workspace = join(base, 'workspace');
    remote = join(base, 'remote.git');
    outbox = join(base, 'outbox');
    mkdirSync(workspace);
    git(base, 'init', '-q', '--bare', '-b', 'main', remote);
    git(workspace, 'init', '-q', '-b', 'main');
    writeFileSync(join(workspace, 'README.md'), 'v1\n');
    git(workspace, 'add', 'README.md');
    git(workspace, 'commit', '-q', '-m', 'v1');
    git(workspace, 'push', '-q', remote, 'main:refs/heads/main');
    // the remote over git:// (as a real remote is over the network): a sandbox sees only its workspace
    const gitPort = await freePort();
    daemon = spawn(
      'git',
      [
        'daemon',
        '--reuseaddr',
        '--export-all',
        '--enable=receive-pack',
        `--base-path=${base}`,
        '--listen=127.0.0.1',
        `--port=${gitPort}`,
        base,
      ],
      { stdio: 'ignore' },
    );
    await waitFor(async () => {
      try {
        git(base, 'ls-remote', `git://127.0.0.1:${gitPort}/remote.git`);
        return true;
      } catch {
        return false;
      }
    }, 'git daemon');
    endpoint = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        posted.push({ path: req.url ?? '', body: JSON.parse(body) as Record<string, unknown> });
        res.writeHead(201, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ number: posted.length, url: `https://example.test/pr/${posted.length}` }));
      });
    });
    await new Promise<void>((r) => endpoint.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(endpoint.address() as AddressInfo).port}`;
    sys = new System(t, {
      WARDEN_WORKSPACE: workspace,
      WARDEN_BOOTSTRAP_ADMIN_TOKEN: ADMIN,
      WARDEN_POLICY_FILE: STRICT,
      WORKER_GIT_REMOTES: `origin=git://127.0.0.1:${gitPort}/remote.git`,
      WORKER_EMAIL_OUTBOX: outbox,
      WORKER_PR_ENDPOINT: `${url}/pulls`,
      WORKER_DEPLOY_ENDPOINTS: `production=${url}/deploy/production,staging=${url}/deploy/staging`,
      WORKER_SHELL_ALLOW: 'sleep,seq,env',
      WORKER_SANDBOX_WARM: '1',
    });
    await sys.startAll();
  }, 60_000);

  afterAll(async () => {
    await sys?.stopAll();
    await t?.cleanup();
    daemon?.kill();
    endpoint?.closeAllConnections();
    await new Promise((r) => endpoint?.close(r));
    rmSync(base, { recursive: true, force: true });
  });

  async function propose(tool: string, args: Record<string, unknown>, role = 'dev'): Promise<Run> {
    const runId = newId();
    const submission = {
      run_id: runId,
      agent: { id: 'agent-7', role },
      session_id: `sess-${newId()}`,
      action: { tool, args },
      intent: 'compute e2e',
    };
    await t.bus.js.publish(t.subjects.ingestTasks, JSON.stringify(submission), { msgID: newId() });
    return waitFor(
      async () => {
        const r = await fetch(`${sys.url('orchestrator')}/v1/runs/${runId}`, {
          headers: { authorization: `Bearer ${ADMIN}` },
        });
        const run = r.status === 200 ? ((await r.json()) as Run) : undefined;
        return run && TERMINAL.includes(run.status) ? run : undefined;
      },
      `run ${runId} to finish`,
      30_000,
    );
  }

  it('email.send → email.draft: the draft is stored in the outbox drafts, nothing is sent', async () => {
    const run = await propose(
      'email.send',
      { to: 'ops@example.com', subject: 'Quarterly numbers', text: 'Draft me.' },
      'outreach',
    );
    expect(run.decision?.rewritten_action?.tool).toBe('email.draft');
    expect(run.result?.error).toBeUndefined();
    expect(run.status).toBe('succeeded');
    const file = (run.result?.output as { draft_file: string }).draft_file;
    const eml = readFileSync(join(outbox, file), 'utf8');
    expect(eml).toContain('Subject: Quarterly numbers');
    expect(eml).toContain('To: ops@example.com');
    expect(eml).toContain('Draft me.');
    // nothing was sent: no .eml beside the drafts folder
    expect(readdirSync(outbox).filter((f) => f.endsWith('.eml'))).toEqual([]);
  });

  it('deploy.production → deploy.canary: the deploy endpoint receives the ref at 10 %', async () => {
    const before = posted.length;
    const run = await propose('deploy.production', { ref: 'v1.2.3' });
    expect(run.decision?.rewritten_action).toEqual({ tool: 'deploy.canary', args: { ref: 'v1.2.3', percent: 10 } });
    expect(run.result?.error).toBeUndefined();
    expect(run.status).toBe('succeeded');
    const calls = posted.slice(before);
    expect(calls).toEqual([
      { path: '/deploy/production', body: { target: 'canary', ref: 'v1.2.3', percent: 10, params: {} } },
    ]);
  });

  it('git.push to main → pr.open: the head branch is pushed, then the pull request opened from it', async () => {
    writeFileSync(join(workspace, 'README.md'), 'v2\n');
    git(workspace, 'commit', '-q', '-am', 'v2');
    const commit = git(workspace, 'rev-parse', 'HEAD');
    const before = posted.length;
    const run = await propose('git.push', { remote: 'origin', branch: 'main' });
    const rewritten = run.decision?.rewritten_action;
    expect(rewritten?.tool).toBe('pr.open');
    const head = rewritten?.args.head as string;
    expect(head).toMatch(/^warden\/agent-7\/[0-9a-f]{12}$/);
    expect(run.result?.error).toBeUndefined();
    expect(run.status).toBe('succeeded');
    // the branch exists on the remote at the workspace's HEAD; main did not move
    expect(git(remote, 'rev-parse', `refs/heads/${head}`)).toBe(commit);
    expect(git(remote, 'rev-parse', 'refs/heads/main')).not.toBe(commit);
    expect(posted.slice(before)).toEqual([
      {
        path: '/pulls',
        body: expect.objectContaining({ head, base: 'main', head_sha: commit }) as unknown as Record<string, unknown>,
      },
    ]);
    expect(run.result?.output).toMatchObject({
      number: before + 1,
      pushed: { remote: 'origin', branch: head, commit },
    });
  });

  it('git.push --force → git.push with force_with_lease: the rewritten history reaches the remote', async () => {
    git(workspace, 'switch', '-q', '-c', 'feature/x');
    writeFileSync(join(workspace, 'f.txt'), 'one\n');
    git(workspace, 'add', 'f.txt');
    git(workspace, 'commit', '-q', '-m', 'one');
    // the worker pushes the branch first: its lease is what it last pushed
    const first = await propose('git.push', { remote: 'origin', branch: 'feature/x' });
    expect(first.status).toBe('succeeded');
    expect(git(remote, 'rev-parse', 'refs/heads/feature/x')).toBe(git(workspace, 'rev-parse', 'HEAD'));
    writeFileSync(join(workspace, 'f.txt'), 'one, amended\n');
    git(workspace, 'commit', '-q', '--amend', '-am', 'one (amended)');
    const amended = git(workspace, 'rev-parse', 'HEAD');
    const run = await propose('git.push', { remote: 'origin', branch: 'feature/x', force: true });
    expect(run.decision?.rewritten_action).toEqual({
      tool: 'git.push',
      args: { remote: 'origin', branch: 'feature/x', force_with_lease: true },
    });
    expect(run.result?.error).toBeUndefined();
    expect(run.status).toBe('succeeded');
    expect(git(remote, 'rev-parse', 'refs/heads/feature/x')).toBe(amended);
    git(workspace, 'switch', '-q', 'main');
  });

  it('fs.write_file prod/… → staging/…: the file lands in staging/, prod/ is untouched', async () => {
    const run = await propose('fs.write_file', { path: 'prod/app.yaml', content: 'replicas: 3\n' });
    expect(run.status).toBe('succeeded');
    expect(readFileSync(join(workspace, 'staging/app.yaml'), 'utf8')).toBe('replicas: 3\n');
    expect(existsSync(join(workspace, 'prod/app.yaml'))).toBe(false);
  });

  describe('decision constraints bind the execution', () => {
    beforeAll(async () => {
      const text = readFileSync(STRICT, 'utf8')
        .replace(/version: '[^']+'/, "version: 'strict-constraints-e2e'")
        .replace(
          "constraints: { timeout_seconds: 120, env_allow: [PATH, HOME, LANG, 'NODE_*'] }",
          'constraints: { timeout_seconds: 1, max_output_bytes: 300, env_allow: [PATH, LANG] }',
        );
      expect(text).toContain('max_output_bytes: 300');
      const r = await fetch(`${sys.url('policy')}/v1/policy`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/yaml' },
        body: text,
      });
      expect(r.status).toBe(200);
    });

    it('timeout_seconds: a slow program is killed at the decision’s timeout, not the worker’s', async () => {
      const started = Date.now();
      const run = await propose('shell.exec', { argv: ['sleep', '30'] });
      expect(run.status).toBe('failed');
      expect(run.result?.error?.code).toBe('TOOL.TIMEOUT');
      expect(run.result?.error?.message).toMatch(/1000 ms/);
      expect(Date.now() - started).toBeLessThan(10_000);
    });

    it('max_output_bytes: the output is cut at the limit and marked truncated', async () => {
      const run = await propose('shell.exec', { argv: ['seq', '1', '5000'] });
      expect(run.status).toBe('succeeded');
      expect(run.result?.truncated).toBe(true);
      // cut to a prefix of the output's JSON text, no longer than the limit
      expect(typeof run.result?.output).toBe('string');
      expect(Buffer.byteLength(run.result?.output as string)).toBeLessThanOrEqual(300);
      expect(run.result?.output as string).toContain('"stdout":"1\\n2\\n3\\n');
    });

    it('env_allow: only the listed variables reach the program', async () => {
      const run = await propose('shell.exec', { argv: ['env'] });
      expect(run.status).toBe('succeeded');
      const names = (run.result?.output as { stdout: string }).stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => l.slice(0, l.indexOf('=')))
        .sort();
      expect(names).toEqual(['LANG', 'PATH']);
    });

    it('a bundle naming a constraint no worker enforces is refused', async () => {
      const text = readFileSync(STRICT, 'utf8').replace(
        'constraints: { max_output_bytes: 1048576 }',
        'constraints: { max_output_bytes: 1048576, max_memory_mb: 64 }',
      );
      const r = await fetch(`${sys.url('policy')}/v1/policy`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/yaml' },
        body: text,
      });
      expect(r.status).toBe(400);
      expect(JSON.stringify(await r.json())).toMatch(/no worker enforces \\"max_memory_mb\\"/);
    });

    it('a bundle whose recipe makes something no worker executes is refused', async () => {
      // policy allows the rewrite (role and rule name email.queue), but no worker has such a tool
      const text = readFileSync(STRICT, 'utf8')
        .replace('compute: { recipe: email_draft }', 'compute: { recipe: email_draft, with: { tool: email.queue } }')
        .replace('{ id: email-drafts, tools: [email.draft]', '{ id: email-drafts, tools: [email.queue]')
        .replace('outreach: { tools: [email.send, email.draft,', 'outreach: { tools: [email.send, email.queue,');
      expect(text).toContain('tools: [email.queue]');
      const r = await fetch(`${sys.url('policy')}/v1/policy`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/yaml' },
        body: text,
      });
      expect(r.status).toBe(400);
      expect(JSON.stringify(await r.json())).toContain('no worker has a tool \\"email.queue\\"');
    });
  });
});
