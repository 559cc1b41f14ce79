import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { prepareWorkspace } from './path-safety';
import { runTool } from './run-tool';
import { defaultToolSettings, type ToolSettings } from './domain/tool';
import { ToolRegistry } from './tool-registry';

const tools = new ToolRegistry();
/** Running (a killed process whose parent died may linger as a zombie until init reaps it). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}
const gitIn = (cwd: string, ...args: string[]) =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd, encoding: 'utf8' });

describe('git and shell tools', () => {
  let base: string;
  let root: string;
  let bare: string;
  let settings: ToolSettings;
  const run = (tool: string, args: Record<string, unknown>) => runTool(tools, { tool, args }, { root, settings });

  beforeEach(async () => {
    base = mkdtempSync(path.join(tmpdir(), 'warden-git-'));
    root = await prepareWorkspace(path.join(base, 'ws'));
    bare = path.join(base, 'remote.git');
    execFileSync('git', ['init', '-q', '--bare', '-b', 'main', bare]);
    execFileSync('git', ['init', '-q', '-b', 'main', root]);
    settings = defaultToolSettings({
      git: { remotes: { origin: bare }, authorName: 'Warden', authorEmail: 'w@example.com' },
      shell: { allow: ['echo', 'sh', 'node'], timeoutMs: 5000 },
    });
  });
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  it('status, add, diff, commit, branch and push to the configured bare remote', async () => {
    writeFileSync(path.join(root, 'a.md'), 'hello\n');
    expect((await run('git.status', {})).output).toMatchObject({ stdout: '?? a.md\n' });
    expect((await run('git.add', { paths: ['a.md'] })).error).toBeUndefined();
    const diff = await run('git.diff', { flags: ['--cached'] });
    expect((diff.output as { stdout: string }).stdout).toContain('+hello');
    const commit = await run('git.commit', { message: 'first' });
    expect(commit.error).toBeUndefined();
    expect((commit.output as { commit: string }).commit).toMatch(/^[0-9a-f]{40}$/);
    expect(gitIn(root, 'log', '--format=%an %s')).toBe('Warden first\n');
    expect((await run('git.branch', { name: 'feature', switch: true })).error).toBeUndefined();
    const push = await run('git.push', { remote: 'origin', branch: 'feature' });
    expect(push.error).toBeUndefined();
    expect(gitIn(bare, 'rev-parse', 'feature').trim()).toBe((commit.output as { commit: string }).commit);
    expect(push.output_hash).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('git.revert undoes a commit with a new commit, and takes only a commit id', async () => {
    writeFileSync(path.join(root, 'a.md'), 'one\n');
    await run('git.add', { paths: ['a.md'] });
    const first = (await run('git.commit', { message: 'first' })).output as { commit: string };
    writeFileSync(path.join(root, 'a.md'), 'two\n');
    await run('git.add', { paths: ['a.md'] });
    const second = (await run('git.commit', { message: 'second' })).output as { commit: string };
    const revert = await run('git.revert', { commit: second.commit });
    expect(revert.error).toBeUndefined();
    const out = revert.output as { commit: string; reverted: string };
    expect(out.reverted).toBe(second.commit);
    expect(out.commit).not.toBe(second.commit);
    expect(readFileSync(path.join(root, 'a.md'), 'utf8')).toBe('one\n');
    // history is kept: three commits, the last one the revert
    expect(gitIn(root, 'log', '--format=%s').split('\n').filter(Boolean)).toEqual([
      `Revert "second"`,
      'second',
      'first',
    ]);
    expect(first.commit).toMatch(/^[0-9a-f]{40}$/);
    expect((await run('git.revert', { commit: 'HEAD~1' })).error?.code).toBe('TOOL.INVALID_ARGS');
    expect((await run('git.revert', { commit: second.commit, flags: ['--no-commit'] })).error?.code).toBe(
      'GIT.FLAG_REFUSED',
    );
    expect((await run('git.revert', { commit: second.commit, force: true })).error?.code).toBe('GIT.FORCE_REFUSED');
  });

  it('never forces, refuses unknown flags and unconfigured remotes', async () => {
    writeFileSync(path.join(root, 'a.md'), 'x');
    gitIn(root, 'add', 'a.md');
    gitIn(root, 'commit', '-qm', 'c');
    for (const args of [
      { remote: 'origin', branch: 'main', flags: ['--force'] },
      { remote: 'origin', branch: 'main', flags: ['-f'] },
      { remote: 'origin', branch: 'main', flags: ['--force-with-lease'] },
      { remote: 'origin', branch: 'main', force: true },
    ]) {
      expect((await run('git.push', args)).error?.code).toBe('GIT.FORCE_REFUSED');
    }
    expect((await run('git.push', { remote: 'origin', branch: '+main' })).error).toMatchObject({
      code: 'TOOL.INVALID_ARGS',
      message: expect.stringContaining('args.branch'),
    });
    expect((await run('git.push', { remote: 'evil', branch: 'main' })).error?.code).toBe('GIT.REMOTE_REFUSED');
    expect((await run('git.diff', { flags: ['--output=/tmp/x'] })).error?.code).toBe('GIT.FLAG_REFUSED');
    expect((await run('git.add', { paths: ['../outside'] })).error?.code).toBe('PATH.ESCAPE');
    expect((await run('git.add', { paths: ['.git/config'] })).error?.code).toBe('PATH.GIT_INTERNAL');
    expect((await run('git.branch', { name: '-D' })).error?.code).toBe('TOOL.INVALID_ARGS');
    // nothing reached the remote
    expect(() => gitIn(bare, 'rev-parse', '--verify', '-q', 'main')).toThrow();
  });

  it('ignores a remote URL planted in the repository config and its hooks', async () => {
    const evil = path.join(base, 'evil.git');
    execFileSync('git', ['init', '-q', '--bare', evil]);
    gitIn(root, 'remote', 'add', 'origin', evil);
    mkdirSync(path.join(root, '.git', 'hooks'), { recursive: true });
    writeFileSync(path.join(root, '.git', 'hooks', 'pre-commit'), `#!/bin/sh\ntouch ${base}/hooked\n`, { mode: 0o755 });
    writeFileSync(path.join(root, 'a.md'), 'x');
    await run('git.add', { paths: ['a.md'] });
    expect((await run('git.commit', { message: 'c' })).error).toBeUndefined();
    expect(existsSync(path.join(base, 'hooked'))).toBe(false);
    expect((await run('git.push', { remote: 'origin', branch: 'main' })).error).toBeUndefined();
    expect(gitIn(bare, 'rev-parse', 'main').trim()).toMatch(/^[0-9a-f]{40}$/);
    expect(() => gitIn(evil, 'rev-parse', '--verify', '-q', 'main')).toThrow();
  });

  describe('shell.exec', () => {
    it('runs an allowed program without a shell, in the workspace, with a scrubbed environment', async () => {
      process.env.WARDEN_TEST_SECRET = 'leak-me';
      mkdirSync(path.join(root, 'sub'));
      const r = await run('shell.exec', {
        argv: [
          'node',
          '-e',
          'process.stdout.write(JSON.stringify([process.cwd(), process.env.WARDEN_TEST_SECRET ?? null, Object.keys(process.env).sort()]))',
        ],
        cwd: 'sub',
      });
      delete process.env.WARDEN_TEST_SECRET;
      const out = r.output as { exit_code: number; stdout: string };
      expect(out.exit_code).toBe(0);
      const [cwd, secret, keys] = JSON.parse(out.stdout) as [string, string | null, string[]];
      expect(cwd).toBe(path.join(root, 'sub'));
      expect(secret).toBeNull();
      expect(keys).toEqual(['HOME', 'LANG', 'LC_ALL', 'PATH']);
      // arguments are not interpreted by a shell
      const echo = await run('shell.exec', { argv: ['echo', '$(id)', ';', 'rm', '-rf', '/'] });
      expect((echo.output as { stdout: string }).stdout).toBe('$(id) ; rm -rf /\n');
    });

    it('reads no rc file from the workspace: HOME is an empty directory of its own', async () => {
      // an agent writes ~/.gitconfig into the workspace (the old HOME) to turn `git` into any program
      writeFileSync(
        path.join(root, '.gitconfig'),
        `[alias]\n\tst = !touch ${base}/aliased\n[core]\n\tpager = touch ${base}/paged\n`,
      );
      settings.shell.allow.push('git');
      const r = await run('shell.exec', { argv: ['git', 'st'] });
      expect(existsSync(path.join(base, 'aliased'))).toBe(false);
      expect((r.output as { stderr: string }).stderr).toMatch(/not a git command/);
      const home = await run('shell.exec', { argv: ['sh', '-c', 'echo $HOME; ls -A $HOME | wc -l'] });
      const [dir, count] = (home.output as { stdout: string }).stdout.trim().split('\n');
      expect(dir).not.toBe(root);
      expect(count!.trim()).toBe('0');
      expect(existsSync(dir!)).toBe(false);
    });

    it('refuses programs off the allow-list and a cwd outside the workspace', async () => {
      expect((await run('shell.exec', { argv: ['rm', '-rf', '.'] })).error?.code).toBe('SHELL.PROGRAM_REFUSED');
      expect((await run('shell.exec', { argv: ['/bin/rm', 'x'] })).error?.code).toBe('SHELL.PROGRAM_REFUSED');
      expect((await run('shell.exec', { argv: ['echo'], cwd: '..' })).error?.code).toBe('PATH.ESCAPE');
      expect((await run('shell.exec', { argv: [] })).error).toMatchObject({
        code: 'TOOL.INVALID_ARGS',
        message: expect.stringContaining('args.argv'),
      });
    });

    it('kills the whole process group on timeout, grandchildren included', async () => {
      const r = await run('shell.exec', {
        argv: ['sh', '-c', 'sleep 30 & echo $! > grandchild.pid; wait'],
        timeout_ms: 500,
      });
      expect(r.error?.code).toBe('TOOL.TIMEOUT');
      const pid = Number(readFileSync(path.join(root, 'grandchild.pid'), 'utf8'));
      await new Promise((res) => setTimeout(res, 200));
      expect(alive(pid)).toBe(false);
    });

    it('caps output', async () => {
      settings.maxProgramOutput = 1000;
      const r = await run('shell.exec', { argv: ['node', '-e', 'process.stdout.write("x".repeat(100000))'] });
      const out = r.output as { stdout: string; truncated: boolean };
      expect(out.stdout).toHaveLength(1000);
      expect(out.truncated).toBe(true);
    });
  });
});
