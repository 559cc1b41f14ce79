import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { runTool } from './run-tool';
import { defaultToolSettings, type ToolSettings } from './domain/tool';
import { ToolRegistry } from './tool-registry';

const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', ['-c', 'safe.directory=*', '-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], {
    cwd,
    encoding: 'utf8',
  }).trim();

/** The tools the compute recipes produce: email.draft, deploy.canary, pr.open with push_head. */
describe('recipe tools', () => {
  let server: Server;
  let url: string;
  let base: string;
  let root: string;
  let remote: string;
  let settings: ToolSettings;
  const posts: { url: string; body: Record<string, unknown> }[] = [];
  const run = (tool: string, args: Record<string, unknown>, role = 'dev') =>
    runTool(new ToolRegistry().forRole(role), { tool, args }, { root, settings, constraints: {} });

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        if (req.url === '/fail') return res.writeHead(502).end('bad gateway');
        posts.push({ url: req.url!, body: JSON.parse(body) as Record<string, unknown> });
        res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ number: 7 }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((r) => server.close(r)));
  beforeEach(() => {
    posts.length = 0;
    base = mkdtempSync(path.join(tmpdir(), 'warden-recipe-'));
    root = path.join(base, 'ws');
    remote = path.join(base, 'remote.git');
    git(base, 'init', '-q', '--bare', '-b', 'main', remote);
    git(base, 'init', '-q', '-b', 'main', root);
    writeFileSync(path.join(root, 'a.txt'), 'a\n');
    git(root, 'add', 'a.txt');
    git(root, 'commit', '-q', '-m', 'a');
    settings = defaultToolSettings({
      email: { from: 'warden@localhost', timeoutMs: 1000, outbox: path.join(base, 'outbox') },
      endpoints: { pr: `${url}/pulls`, deploy: { production: `${url}/production` }, timeoutMs: 1000 },
      git: { remotes: { origin: remote }, authorName: 'w', authorEmail: 'w@localhost' },
    });
  });
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  describe('email.draft', () => {
    it('stores the message in the outbox drafts folder and sends nothing', async () => {
      const r = await run('email.draft', { to: 'a@example.com', subject: 'Hi', text: 'body' }, 'outreach');
      expect(r.error).toBeUndefined();
      const file = (r.output as { draft_file: string }).draft_file;
      expect(file).toMatch(/^drafts\/.+\.eml$/);
      const eml = readFileSync(path.join(base, 'outbox', file), 'utf8');
      expect(eml).toMatch(/^From: warden@localhost$/m);
      expect(eml).toMatch(/^Subject: Hi$/m);
      expect(readdirSync(path.join(base, 'outbox'))).toEqual(['drafts']);
    });

    it('takes exactly email.send’s arguments, and needs an outbox', async () => {
      expect((await run('email.draft', { to: 'a@example.com', subject: 'Hi' }, 'outreach')).error?.message).toMatch(
        /give text or html/,
      );
      settings = { ...settings, email: { ...settings.email, outbox: undefined } };
      expect(
        (await run('email.draft', { to: 'a@example.com', subject: 'Hi', text: 'x' }, 'outreach')).error?.code,
      ).toBe('TOOL.NOT_CONFIGURED');
    });
  });

  describe('deploy.canary', () => {
    it('posts the ref and percent to the canary endpoint, else production’s', async () => {
      const r = await run('deploy.canary', { ref: 'v2', percent: 25 });
      expect(r.error).toBeUndefined();
      expect(posts).toEqual([{ url: '/production', body: { target: 'canary', ref: 'v2', percent: 25, params: {} } }]);
      settings.endpoints.deploy = { production: `${url}/production`, canary: `${url}/canary` };
      await run('deploy.canary', { ref: 'v2', percent: 5 });
      expect(posts[1]!.url).toBe('/canary');
    });

    it('refuses a percent out of 1..100, a missing one, and other targets’ unknown fields', async () => {
      expect((await run('deploy.canary', { ref: 'v2', percent: 150 })).error?.code).toBe('TOOL.INVALID_ARGS');
      expect((await run('deploy.canary', { ref: 'v2' })).error?.message).toMatch(/args\.percent/);
      expect((await run('deploy.staging', { ref: 'v2', percent: 5 })).error?.message).toMatch(/percent/);
      expect(posts).toEqual([]);
    });
  });

  describe('pr.open with push_head', () => {
    it('pushes HEAD to the new head branch, then opens the PR from it', async () => {
      const head = git(root, 'rev-parse', 'HEAD');
      const r = await run('pr.open', { title: 'T', head: 'warden/agent/abc', base: 'main', push_head: true });
      expect(r.error).toBeUndefined();
      expect(git(remote, 'rev-parse', 'refs/heads/warden/agent/abc')).toBe(head);
      expect(posts).toEqual([
        {
          url: '/pulls',
          body: { title: 'T', body: '', head: 'warden/agent/abc', base: 'main', draft: false, head_sha: head },
        },
      ]);
      expect(r.output).toMatchObject({
        number: 7,
        pushed: { remote: 'origin', branch: 'warden/agent/abc', commit: head },
      });
    });

    it('never moves an existing branch, and pushes only to configured remotes', async () => {
      git(root, 'push', '-q', remote, 'HEAD:refs/heads/taken');
      writeFileSync(path.join(root, 'a.txt'), 'b\n');
      git(root, 'commit', '-q', '-am', 'b');
      const r = await run('pr.open', { title: 'T', head: 'taken', push_head: true });
      // even a fast-forward of an existing branch is refused: the head is always a fresh branch
      expect(r.error?.code).toBe('PR.HEAD_EXISTS');
      expect(git(remote, 'rev-parse', 'refs/heads/taken')).not.toBe(git(root, 'rev-parse', 'HEAD'));
      expect(posts).toEqual([]);
      expect((await run('pr.open', { title: 'T', head: 'x', push_head: true, remote: 'elsewhere' })).error?.code).toBe(
        'GIT.REMOTE_REFUSED',
      );
      expect((await run('pr.open', { title: 'T', head: '-x', push_head: true })).error?.code).toBe('TOOL.INVALID_ARGS');
    });

    it('without push_head only opens the PR; an endpoint error fails the run', async () => {
      expect((await run('pr.open', { title: 'T', head: 'feature/x' })).error).toBeUndefined();
      expect(posts[0]!.body).toEqual({ title: 'T', body: '', head: 'feature/x', base: 'main', draft: false });
      settings.endpoints.pr = `${url}/fail`;
      expect((await run('pr.open', { title: 'T', head: 'feature/x' })).error).toEqual({
        code: 'ENDPOINT.FAILED',
        message: 'pr.open: endpoint answered 502: bad gateway',
      });
    });
  });
});
