import { scrubbedEnv } from './environment';
import {
  HARDENING,
  checkFlags,
  gitArgv,
  gitDir,
  gitEnv,
  pathspecs,
  refuseForce,
  repoConfigKeyAllowed,
} from './git-rules';
import { ToolError } from './tool';

const ROOT = '/w/ws';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err instanceof ToolError ? err.code : 'not a ToolError';
  }
}

describe('checkFlags', () => {
  it("given flags on the operation's allow-list, then they pass", () => {
    expect(codeOf(() => checkFlags('push', ['--set-upstream', '--dry-run']))).toBeUndefined();
    expect(codeOf(() => checkFlags('status', []))).toBeUndefined();
  });

  it('given any spelling of force, then it is refused GIT.FORCE_REFUSED', () => {
    for (const f of ['-f', '--force', '--force-with-lease', '+main', '--mirror', '--delete', '--amend', '--exec=x'])
      expect(codeOf(() => checkFlags('push', [f]))).toBe('GIT.FORCE_REFUSED');
  });

  it('given a flag another operation allows, then it is refused GIT.FLAG_REFUSED naming the allowed ones', () => {
    expect(() => checkFlags('commit', ['--cached'])).toThrow(
      'git commit: flag "--cached" is not allowed (allowed: --allow-empty --signoff)',
    );
    expect(codeOf(() => checkFlags('commit', ['--cached']))).toBe('GIT.FLAG_REFUSED');
  });

  it('given an operation without an allow-list, then every flag is refused', () => {
    expect(codeOf(() => checkFlags('gc', ['--aggressive']))).toBe('GIT.FLAG_REFUSED');
  });
});

describe('refuseForce', () => {
  it('given an argument named like force, then it is refused before schema parsing', () => {
    expect(codeOf(() => refuseForce('commit', { message: 'm', force: true }))).toBe('GIT.FORCE_REFUSED');
    expect(codeOf(() => refuseForce('branch', { name: 'b', Force_Delete: true }))).toBe('GIT.FORCE_REFUSED');
  });

  it('given force_with_lease, then only git.push lets it through', () => {
    expect(
      codeOf(() => refuseForce('push', { remote: 'origin', branch: 'b', force_with_lease: true })),
    ).toBeUndefined();
    expect(codeOf(() => refuseForce('commit', { force_with_lease: true }))).toBe('GIT.FORCE_REFUSED');
  });
});

describe('pathspecs', () => {
  it('given workspace paths, then they become work-tree-relative pathspecs (the root is .)', () => {
    expect(pathspecs(ROOT, ['src/a.ts', 'docs/../README.md', '.'])).toEqual(['src/a.ts', 'README.md', '.']);
  });

  it('given a path into .git, then it is refused PATH.GIT_INTERNAL', () => {
    expect(codeOf(() => pathspecs(ROOT, ['.git/config']))).toBe('PATH.GIT_INTERNAL');
  });

  it('given a path leaving the workspace or an absolute one, then the lexical rules refuse it', () => {
    expect(codeOf(() => pathspecs(ROOT, ['../other']))).toBe('PATH.ESCAPE');
    expect(codeOf(() => pathspecs(ROOT, ['/etc/passwd']))).toBe('PATH.ABSOLUTE');
  });
});

describe('repoConfigKeyAllowed', () => {
  it('allows the plain keys of a repository, in any letter case', () => {
    for (const key of [
      'core.bare',
      'core.repositoryFormatVersion',
      'remote.origin.url',
      'branch.main.merge',
      'user.email',
    ])
      expect(repoConfigKeyAllowed(key)).toBe(true);
  });

  it('refuses every key that can name a program', () => {
    for (const key of [
      'filter.x.clean',
      'diff.x.textconv',
      'merge.x.driver',
      'include.path',
      'includeIf.gitdir:/w/.path',
      'url.ext::sh.insteadOf',
      'credential.helper',
      'core.sshCommand',
      'core.pager',
      'core.editor',
      'core.fsmonitor',
    ])
      expect(repoConfigKeyAllowed(key)).toBe(false);
  });
});

describe('gitArgv', () => {
  const argv = gitArgv(ROOT, { authorName: 'Warden worker', authorEmail: 'w@localhost' }, ['status', '--short']);

  it('names the repository and work tree explicitly (never discovered)', () => {
    expect(argv.slice(0, 6)).toEqual([
      'git',
      '--no-pager',
      '--no-replace-objects',
      '--literal-pathspecs',
      `--git-dir=${gitDir(ROOT)}`,
      `--work-tree=${ROOT}`,
    ]);
    expect(gitDir(ROOT)).toBe('/w/ws/.git');
  });

  it('passes every hardening override and the identity as -c before the operation, which comes last', () => {
    for (const kv of [...HARDENING, `safe.directory=${ROOT}`, 'user.name=Warden worker', 'user.email=w@localhost'])
      expect(argv[argv.indexOf(kv) - 1]).toBe('-c');
    expect(argv).toContain('core.hooksPath=/dev/null');
    expect(argv.slice(-2)).toEqual(['status', '--short']);
  });
});

describe('gitEnv', () => {
  it('gives git the scrubbed environment with no system or global config and only safe protocols', () => {
    const env = gitEnv(ROOT);
    expect(env).toMatchObject({
      PATH: scrubbedEnv().PATH,
      GIT_DIR: '/w/ws/.git',
      GIT_WORK_TREE: ROOT,
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_ALLOW_PROTOCOL: 'https:http:ssh:git:file',
      GIT_TERMINAL_PROMPT: '0',
    });
    expect(Object.keys(env)).not.toContain('NODE_OPTIONS');
  });
});

describe('scrubbedEnv', () => {
  it('is a fixed PATH, locale and HOME; extras override', () => {
    expect(scrubbedEnv()).toEqual({
      PATH: '/usr/local/bin:/usr/bin:/bin',
      LANG: 'C.UTF-8',
      LC_ALL: 'C.UTF-8',
      HOME: '/nonexistent',
    });
    expect(scrubbedEnv({ HOME: '/h' }).HOME).toBe('/h');
  });
});
