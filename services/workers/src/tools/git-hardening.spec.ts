import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { prepareWorkspace } from './path-safety';
import { runTool } from './run-tool';
import { defaultToolSettings, type ToolSettings } from './domain/tool';
import { ToolRegistry } from './tool-registry';

const tools = new ToolRegistry();
const gitIn = (cwd: string, ...args: string[]) =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd, encoding: 'utf8' });

/** Git tools run inline here (no sandbox): these are the git-level walls on their own. */
describe('git tools cannot be turned into code', () => {
  let base: string;
  let root: string;
  let bare: string;
  let marker: string;
  let settings: ToolSettings;
  const run = (tool: string, args: Record<string, unknown>) => runTool(tools, { tool, args }, { root, settings });
  const evilConfig = () =>
    [
      '[core]',
      `\tpager = touch ${marker}-pager`,
      `\teditor = touch ${marker}-editor`,
      `\tsshCommand = touch ${marker}-ssh`,
      `\tfsmonitor = touch ${marker}-fsmonitor`,
      '[filter "x"]',
      `\tclean = sh -c 'touch ${marker}-clean; cat'`,
      `\tsmudge = sh -c 'touch ${marker}-smudge; cat'`,
      '[diff "x"]',
      `\ttextconv = sh -c 'touch ${marker}-textconv; cat'`,
      `\tcommand = touch ${marker}-diffcmd`,
      '',
    ].join('\n');
  const markers = () =>
    ['pager', 'editor', 'ssh', 'fsmonitor', 'clean', 'smudge', 'textconv', 'diffcmd'].filter((m) =>
      existsSync(`${marker}-${m}`),
    );

  beforeEach(async () => {
    base = mkdtempSync(path.join(tmpdir(), 'warden-githard-'));
    root = await prepareWorkspace(path.join(base, 'ws'));
    marker = path.join(base, 'pwned');
    bare = path.join(base, 'remote.git');
    execFileSync('git', ['init', '-q', '--bare', '-b', 'main', bare]);
    settings = defaultToolSettings({
      git: { remotes: { origin: bare }, authorName: 'Warden', authorEmail: 'w@example.com' },
    });
  });
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  it('a bare-repository layout planted at the workspace root is never used as the repository', async () => {
    // HEAD, objects/, refs/, config with drivers, and .gitattributes naming them, at the root
    gitIn(base, 'init', '-q', '--bare', path.join(base, 'layout'));
    execFileSync('cp', ['-r', `${base}/layout/HEAD`, `${base}/layout/objects`, `${base}/layout/refs`, root]);
    writeFileSync(path.join(root, 'config'), evilConfig());
    writeFileSync(path.join(root, '.gitattributes'), '* filter=x diff=x\n');
    writeFileSync(path.join(root, 'a.txt'), 'one\n');
    // no .git: git would discover the workspace root itself as a bare repository; the tools refuse
    expect((await run('git.add', { paths: ['a.txt'] })).error?.code).toBe('GIT.NO_REPOSITORY');
    expect((await run('git.diff', {})).error?.code).toBe('GIT.NO_REPOSITORY');
    expect(markers()).toEqual([]);
    // with the worker's own repository, the planted layout is just files
    execFileSync('git', ['init', '-q', '-b', 'main', root]);
    expect((await run('git.add', { paths: ['a.txt', '.gitattributes'] })).error).toBeUndefined();
    writeFileSync(path.join(root, 'a.txt'), 'two\n');
    expect((await run('git.diff', {})).error).toBeUndefined();
    expect((await run('git.status', {})).error).toBeUndefined();
    expect(markers()).toEqual([]);
  });

  it('the workspace without .git: refused, never a repository discovered above it', async () => {
    // the workspace sits inside another checkout (as var/workspace sits in the Warden repository)
    execFileSync('git', ['init', '-q', '-b', 'main', base]);
    writeFileSync(path.join(root, 'a.txt'), 'x');
    expect((await run('git.add', { paths: ['a.txt'] })).error?.code).toBe('GIT.NO_REPOSITORY');
    expect(gitIn(base, 'status', '--porcelain')).not.toContain('a.txt');
  });

  it('a planted .git/config with drivers, pager, editor, sshCommand or fsmonitor is refused before git runs', async () => {
    execFileSync('git', ['init', '-q', '-b', 'main', root]);
    writeFileSync(path.join(root, '.gitattributes'), '* filter=x diff=x\n');
    writeFileSync(path.join(root, 'a.txt'), 'one\n');
    writeFileSync(path.join(root, '.git', 'config'), evilConfig());
    for (const [tool, args] of [
      ['git.add', { paths: ['a.txt'] }],
      ['git.diff', {}],
      ['git.status', {}],
      ['git.commit', { message: 'm', flags: ['--allow-empty'] }],
    ] as const) {
      const r = await run(tool, args);
      expect(r.error).toMatchObject({ code: 'GIT.CONFIG_REFUSED' });
    }
    expect(markers()).toEqual([]);
  });

  it.each([
    ['include.path', '[include]\n\tpath = /tmp/elsewhere\n'],
    ['url rewrite', '[url "ext::sh -c touch% /tmp/x"]\n\tinsteadOf = https://\n'],
    ['merge driver', '[merge "x"]\n\tdriver = touch /tmp/x\n'],
    ['credential helper', '[credential]\n\thelper = !touch /tmp/x\n'],
    ['a remote upload-pack', '[remote "o"]\n\tuploadpack = touch /tmp/x\n'],
    ['worktree config', '[extensions]\n\tworktreeConfig = true\n'],
  ])('refuses a repository whose config sets %s', async (_, extra) => {
    execFileSync('git', ['init', '-q', '-b', 'main', root]);
    writeFileSync(path.join(root, '.git', 'config'), `[core]\n\trepositoryformatversion = 0\n${extra}`);
    expect((await run('git.status', {})).error?.code).toBe('GIT.CONFIG_REFUSED');
  });

  it('refuses a .git that redirects elsewhere (gitdir file, symlink, commondir)', async () => {
    const other = path.join(base, 'other');
    execFileSync('git', ['init', '-q', '-b', 'main', other]);
    writeFileSync(path.join(root, '.git'), `gitdir: ${other}/.git\n`);
    expect((await run('git.status', {})).error?.code).toBe('GIT.NO_REPOSITORY');
    rmSync(path.join(root, '.git'));
    execFileSync('ln', ['-s', `${other}/.git`, path.join(root, '.git')]);
    expect((await run('git.status', {})).error?.code).toBe('GIT.NO_REPOSITORY');
    rmSync(path.join(root, '.git'));
    execFileSync('git', ['init', '-q', '-b', 'main', root]);
    writeFileSync(path.join(root, '.git', 'commondir'), `${other}/.git\n`);
    expect((await run('git.status', {})).error?.code).toBe('GIT.CONFIG_REFUSED');
  });

  it('an embedded repository (a submodule-like .git below the workspace) runs nothing', async () => {
    execFileSync('git', ['init', '-q', '-b', 'main', root]);
    const sub = path.join(root, 'sub');
    execFileSync('git', ['init', '-q', '-b', 'main', sub]);
    writeFileSync(path.join(sub, 'f'), 'x');
    gitIn(sub, 'add', 'f');
    gitIn(sub, 'commit', '-qm', 'c');
    writeFileSync(path.join(sub, '.git', 'config'), evilConfig());
    writeFileSync(path.join(sub, '.gitattributes'), '* filter=x diff=x\n');
    writeFileSync(path.join(sub, 'f'), 'changed');
    expect((await run('git.add', { flags: ['--all'] })).error).toBeUndefined();
    expect((await run('git.status', {})).error).toBeUndefined();
    expect((await run('git.diff', { flags: ['--cached'] })).error).toBeUndefined();
    expect(markers()).toEqual([]);
  });

  it('pathspecs are literal (no :(magic) from an agent)', async () => {
    execFileSync('git', ['init', '-q', '-b', 'main', root]);
    writeFileSync(path.join(root, 'a.txt'), 'x');
    const r = await run('git.add', { paths: [':(top)a.txt'] });
    expect(r.error?.code).toBe('GIT.FAILED');
    expect(gitIn(root, 'status', '--porcelain')).toContain('?? a.txt');
  });

  describe('git.push force_with_lease (the form the force_with_lease recipe produces)', () => {
    const commit = async (file: string, content: string) => {
      writeFileSync(path.join(root, file), content);
      await run('git.add', { paths: [file] });
      return (await run('git.commit', { message: content })).output as { commit: string };
    };
    beforeEach(() => execFileSync('git', ['init', '-q', '-b', 'main', root]));

    it('overwrites the remote branch only where the worker last saw it', async () => {
      await commit('a', '1');
      expect((await run('git.push', { remote: 'origin', branch: 'main' })).error).toBeUndefined();
      // history rewritten locally (as an agent's rebase would): a plain push is refused by the remote
      gitIn(root, 'checkout', '-q', '--orphan', 'tmp');
      const rewritten = await commit('b', '2');
      gitIn(root, 'branch', '-q', '-f', 'main', 'tmp');
      gitIn(root, 'checkout', '-q', 'main');
      expect((await run('git.push', { remote: 'origin', branch: 'main' })).error?.code).toBe('GIT.FAILED');
      const r = await run('git.push', { remote: 'origin', branch: 'main', force_with_lease: true });
      expect(r.error).toBeUndefined();
      expect(r.output).toMatchObject({ force_with_lease: true });
      expect(gitIn(bare, 'rev-parse', 'main').trim()).toBe(rewritten.commit);
    });

    it('refuses when someone else moved the remote branch since', async () => {
      await commit('a', '1');
      await run('git.push', { remote: 'origin', branch: 'main' });
      const other = path.join(base, 'other');
      gitIn(base, 'clone', '-q', bare, other);
      writeFileSync(path.join(other, 'o'), 'theirs');
      gitIn(other, 'add', 'o');
      gitIn(other, 'commit', '-qm', 'theirs');
      gitIn(other, 'push', '-q', 'origin', 'main');
      const theirs = gitIn(bare, 'rev-parse', 'main').trim();
      await commit('c', 'mine');
      const r = await run('git.push', { remote: 'origin', branch: 'main', force_with_lease: true });
      expect(r.error?.code).toBe('GIT.FAILED');
      expect(gitIn(bare, 'rev-parse', 'main').trim()).toBe(theirs);
    });

    it('still refuses every other spelling of force', async () => {
      await commit('a', '1');
      for (const args of [
        { force: true },
        { force_with_lease: true, flags: ['--force'] },
        { flags: ['--force-with-lease'] },
        { flags: ['--force-with-lease=main:abc'] },
        { force_if_includes: true },
      ]) {
        const r = await run('git.push', { remote: 'origin', branch: 'main', ...args });
        expect(r.error?.code).toBe('GIT.FORCE_REFUSED');
      }
      expect((await run('git.commit', { message: 'm', force_with_lease: true })).error?.code).toBe('GIT.FORCE_REFUSED');
    });
  });
});
