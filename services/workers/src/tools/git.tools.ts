import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
// argument schemas live in libs/contracts (tools.ts): workers and policy's rewrite checks share them
import {
  GitAddArgs as AddArgs,
  GitBranchArgs as BranchArgs,
  GitCommitArgs as CommitArgs,
  GitDiffArgs as DiffArgs,
  GitPushArgs as PushArgs,
  GitRevertArgs as RevertArgs,
  GitStatusArgs as StatusArgs,
} from '@warden/contracts';
import { resolveLexically } from './domain/path-rules';
import { runProgram, scrubbedEnv, type ProgramResult } from './program';
import { ToolError, parseArgs, settingsOf, type Tool, type ToolContext, type ToolSettings } from './domain/tool';

/** Flags each operation accepts; anything else (and every form of force) is refused. */
export const GIT_FLAGS: Record<string, readonly string[]> = {
  status: ['--short', '--branch', '--untracked-files=no', '--untracked-files=normal', '--untracked-files=all'],
  diff: ['--cached', '--staged', '--stat', '--name-only', '--name-status', '--no-color', '--numstat'],
  add: ['--all', '-A', '--update', '-u', '--intent-to-add', '-N'],
  commit: ['--allow-empty', '--signoff'],
  push: ['--set-upstream', '-u', '--tags', '--dry-run'],
  branch: ['--list', '--all', '-a', '--remotes', '-r', '--show-current'],
  revert: ['--signoff'],
};
const FORCE =
  /^(-f|--force.*|\+.*|--mirror|--delete|-d|-D|--no-verify|--amend|-c|--exec.*|--upload-pack.*|--receive-pack.*)$/;

function checkFlags(op: string, flags: readonly string[]): void {
  for (const f of flags) {
    if (FORCE.test(f)) throw new ToolError('GIT.FORCE_REFUSED', `git ${op}: "${f}" is never allowed`);
    if (!GIT_FLAGS[op]!.includes(f)) {
      throw new ToolError(
        'GIT.FLAG_REFUSED',
        `git ${op}: flag "${f}" is not allowed (allowed: ${GIT_FLAGS[op]!.join(' ')})`,
      );
    }
  }
}

/** Workspace-relative pathspecs, each checked lexically (git itself refuses paths outside the repository). */
function pathspecs(root: string, paths: readonly string[]): string[] {
  return paths.map((p) => {
    const abs = resolveLexically(root, p);
    if (abs.split('/').includes('.git')) throw new ToolError('PATH.GIT_INTERNAL', `"${p}" is inside .git`);
    return abs === root ? '.' : abs.slice(root.length + 1);
  });
}

/**
 * The worker's repository is `<workspace>/.git`, always named explicitly (`--git-dir` and
 * `--work-tree`, `GIT_DIR`/`GIT_WORK_TREE`): git never discovers a repository, so a bare-repository
 * layout planted at the workspace root (or anywhere in it) is never used, and neither is a parent
 * checkout the workspace happens to sit in. Why there and not in a directory of the worker's own:
 * it is the repository operators already have in their workspaces, the file tools refuse every
 * path through `.git`, and in a sandbox it is mounted read-only for every execution except the git
 * tools' own (see sandbox/capabilities.ts), so no program an agent starts can write its config.
 * Because that last wall is missing when sandboxes are degraded or `WORKER_SANDBOX=inline`, every
 * run also (1) checks the repository's config against {@link ALLOWED_REPO_CONFIG} — anything that
 * can name a program (filter/diff/merge drivers, includes, core.* commands, url rewrites) is
 * refused before git starts — and (2) overrides each code-executing key on the command line, which
 * wins over any config file.
 */
export const gitDir = (root: string): string => path.join(root, '.git');

/**
 * Repository config keys git may find in `<workspace>/.git/config` (lower-cased; `*` one
 * subsection). Everything else is refused (`GIT.CONFIG_REFUSED`), because the keys that run
 * programs (`filter.<x>.clean`, `diff.<x>.textconv`, `merge.<x>.driver`, `include.path`,
 * `core.sshCommand`, …) have open-ended names no command-line override can list.
 */
export const ALLOWED_REPO_CONFIG: readonly RegExp[] = [
  /^core\.(repositoryformatversion|filemode|bare|logallrefupdates|ignorecase|precomposeunicode|symlinks|autocrlf|eol|safecrlf|quotepath|trustctime|checkstat|abbrev)$/,
  /^extensions\.objectformat$/,
  /^remote\.[^\n]+\.(url|pushurl|fetch|tagopt|prune)$/,
  /^branch\.[^\n]+\.(remote|merge|rebase|pushremote|description)$/,
  /^user\.(name|email)$/,
  /^init\.defaultbranch$/,
  /^(color|advice|i18n|status|log)\.[a-z]+$/,
  /^(gc\.auto|push\.default|pull\.rebase)$/,
];

/** `-c` settings that switch off every way git runs a program or a helper (they win over config files). */
const HARDENING: readonly string[] = [
  'core.hooksPath=/dev/null',
  'core.fsmonitor=false',
  'core.pager=cat',
  'core.editor=true',
  'sequence.editor=true',
  'core.askPass=/bin/false',
  'core.sshCommand=ssh -o BatchMode=yes',
  'core.gitProxy=none',
  'core.attributesFile=/dev/null',
  'credential.helper=',
  'diff.external=',
  'commit.gpgSign=false',
  'tag.gpgSign=false',
  'gpg.program=/bin/false',
  'submodule.recurse=false',
  'diff.ignoreSubmodules=all',
  'status.submoduleSummary=false',
  'push.recurseSubmodules=no',
  'protocol.allow=never',
  'protocol.ext.allow=never',
];

/** The environment of every git run: no system/global config, nothing to prompt, page or edit with. */
function gitEnv(root: string): Record<string, string> {
  return scrubbedEnv({
    GIT_DIR: gitDir(root),
    GIT_WORK_TREE: root,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_SYSTEM: '/dev/null',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_ATTR_NOSYSTEM: '1',
    XDG_CONFIG_HOME: '/nonexistent',
    GIT_TERMINAL_PROMPT: '0',
    GIT_ASKPASS: '/bin/false',
    SSH_ASKPASS: '/bin/false',
    GIT_SSH_COMMAND: 'ssh -o BatchMode=yes',
    GIT_PAGER: 'cat',
    PAGER: 'cat',
    GIT_EDITOR: 'true',
    GIT_SEQUENCE_EDITOR: 'true',
    GIT_NO_REPLACE_OBJECTS: '1',
    GIT_LITERAL_PATHSPECS: '1',
    // as if protocol.allow=never with these always allowed; `ext::` (runs a command) never
    GIT_ALLOW_PROTOCOL: 'https:http:ssh:git:file',
    GIT_PROTOCOL_FROM_USER: '0',
  });
}

/**
 * Refuses a repository git could be made to run code from: `.git` must be a real directory (not a
 * symlink or a `gitdir:` file), have no `commondir` (which would move its config elsewhere), and a
 * config with only {@link ALLOWED_REPO_CONFIG} keys (read with `--file`, which follows no include).
 */
async function checkRepository(ctx: ToolContext, tool: string, s: ToolSettings): Promise<void> {
  const dir = gitDir(ctx.root);
  const st = await fs.lstat(dir).catch(() => undefined);
  if (!st?.isDirectory()) {
    throw new ToolError(
      'GIT.NO_REPOSITORY',
      `${tool}: the workspace has no repository (.git is missing or not a directory)`,
    );
  }
  for (const redirect of ['commondir', 'gitdir']) {
    if (await fs.lstat(path.join(dir, redirect)).catch(() => undefined)) {
      throw new ToolError('GIT.CONFIG_REFUSED', `${tool}: .git/${redirect} redirects the repository; refused`);
    }
  }
  const r = await runProgram(
    ['git', '--no-pager', 'config', '--file', path.join(dir, 'config'), '--list', '--name-only', '-z'],
    {
      cwd: ctx.root,
      env: { ...gitEnv(ctx.root), GIT_DIR: '/nonexistent', GIT_WORK_TREE: '/nonexistent' },
      timeoutMs: s.shell.timeoutMs,
      maxOutput: s.maxProgramOutput,
      signal: ctx.signal,
      shareGroup: ctx.sandboxed,
    },
  );
  // no config file at all is fine (exit 1 with nothing on stdout)
  if (r.exit_code !== 0 && r.stdout !== '') {
    throw new ToolError(
      'GIT.CONFIG_REFUSED',
      `${tool}: the repository config cannot be read: ${r.stderr.trim().slice(0, 300)}`,
    );
  }
  for (const key of r.stdout.split('\0').filter(Boolean)) {
    if (!ALLOWED_REPO_CONFIG.some((re) => re.test(key.toLowerCase()))) {
      throw new ToolError(
        'GIT.CONFIG_REFUSED',
        `${tool}: the repository config sets "${key}", which git tools do not accept (it can run a program or is not on the allow-list)`,
      );
    }
  }
}

/**
 * Runs git on the worker's repository ({@link gitDir}, never discovered) with the workspace as its
 * work tree: the repository config checked first, no system or global config, hooks, fsmonitor,
 * pager, editor, credential helpers, external diff, submodule recursion and `ext::` off, pathspecs
 * literal.
 */
export async function git(ctx: ToolContext, args: readonly string[], tool: string): Promise<ProgramResult> {
  const s = settingsOf(ctx, tool);
  await checkRepository(ctx, tool, s);
  const argv = [
    'git',
    '--no-pager',
    '--no-replace-objects',
    '--literal-pathspecs',
    `--git-dir=${gitDir(ctx.root)}`,
    `--work-tree=${ctx.root}`,
    '-c',
    `safe.directory=${ctx.root}`,
    ...HARDENING.flatMap((kv) => ['-c', kv]),
    '-c',
    `user.name=${s.git.authorName}`,
    '-c',
    `user.email=${s.git.authorEmail}`,
    ...args,
  ];
  const r = await runProgram(argv, {
    cwd: ctx.root,
    env: gitEnv(ctx.root),
    timeoutMs: s.shell.timeoutMs,
    maxOutput: s.maxProgramOutput,
    signal: ctx.signal,
    shareGroup: ctx.sandboxed,
  });
  if (r.timed_out) throw new ToolError('TOOL.TIMEOUT', `${tool} timed out`);
  if (r.exit_code !== 0) {
    throw new ToolError('GIT.FAILED', `${tool} exited ${r.exit_code ?? r.signal}: ${r.stderr.trim().slice(0, 1500)}`);
  }
  return r;
}

const out = (r: ProgramResult) => ({ stdout: r.stdout, truncated: r.truncated });
const Output = z.object({ stdout: z.string(), truncated: z.boolean() });

/**
 * Refuses force in any spelling before schema parsing, so the refusal names it. The one safe form,
 * `force_with_lease` on `git.push` (what the policy's `force_with_lease` recipe makes of a force
 * push), is left to the schema.
 */
function refuseForce(op: string, raw: Record<string, unknown>): void {
  for (const k of Object.keys(raw)) {
    if (op === 'push' && k === 'force_with_lease') continue;
    if (/force/i.test(k)) throw new ToolError('GIT.FORCE_REFUSED', `git ${op}: "${k}" is never allowed`);
  }
}

export const gitStatusTool: Tool = {
  name: 'git.status',
  idempotent: true,
  spawns: true,
  args: StatusArgs,
  result: Output,
  async run(raw, ctx) {
    const a = parseArgs('git.status', StatusArgs, raw);
    checkFlags('status', a.flags);
    return out(await git(ctx, ['status', '--porcelain=v1', '--ignore-submodules=all', ...a.flags], 'git.status'));
  },
};

export const gitDiffTool: Tool = {
  name: 'git.diff',
  idempotent: true,
  spawns: true,
  args: DiffArgs,
  result: Output,
  async run(raw, ctx) {
    const a = parseArgs('git.diff', DiffArgs, raw);
    checkFlags('diff', a.flags);
    return out(
      await git(
        ctx,
        [
          'diff',
          '--no-ext-diff',
          '--no-textconv',
          '--ignore-submodules=all',
          ...a.flags,
          '--',
          ...pathspecs(ctx.root, a.paths),
        ],
        'git.diff',
      ),
    );
  },
};

export const gitAddTool: Tool = {
  name: 'git.add',
  idempotent: true,
  spawns: true,
  args: AddArgs,
  result: Output,
  async run(raw, ctx) {
    const a = parseArgs('git.add', AddArgs, raw);
    checkFlags('add', a.flags);
    if (a.paths.length === 0 && a.flags.length === 0) {
      throw new ToolError('TOOL.INVALID_ARGS', 'git.add: args.paths: name at least one path (or pass --all)');
    }
    return out(await git(ctx, ['add', ...a.flags, '--', ...pathspecs(ctx.root, a.paths)], 'git.add'));
  },
};

export const gitCommitTool: Tool = {
  name: 'git.commit',
  idempotent: false,
  spawns: true,
  args: CommitArgs,
  result: Output.extend({ commit: z.string() }),
  async run(raw, ctx) {
    refuseForce('commit', raw);
    const a = parseArgs('git.commit', CommitArgs, raw);
    checkFlags('commit', a.flags);
    const r = await git(ctx, ['commit', '--no-verify', '--no-gpg-sign', ...a.flags, '-m', a.message], 'git.commit');
    const head = await git(ctx, ['rev-parse', 'HEAD'], 'git.commit');
    return { ...out(r), commit: head.stdout.trim() };
  },
};

/**
 * `git.revert {commit}` → a new commit undoing it (the compensation for a flagged `git.commit`).
 * Never edits history: no `--no-commit`, no reset, no force.
 */
export const gitRevertTool: Tool = {
  name: 'git.revert',
  idempotent: false,
  spawns: true,
  args: RevertArgs,
  result: Output.extend({ commit: z.string(), reverted: z.string() }),
  async run(raw, ctx) {
    refuseForce('revert', raw);
    const a = parseArgs('git.revert', RevertArgs, raw);
    checkFlags('revert', a.flags);
    const r = await git(ctx, ['revert', '--no-edit', '--no-gpg-sign', ...a.flags, a.commit], 'git.revert');
    const head = await git(ctx, ['rev-parse', 'HEAD'], 'git.revert');
    return { ...out(r), commit: head.stdout.trim(), reverted: a.commit };
  },
};

export const gitPushTool: Tool = {
  name: 'git.push',
  idempotent: false,
  spawns: true,
  network: true,
  args: PushArgs,
  result: Output.extend({ remote: z.string(), branch: z.string(), force_with_lease: z.boolean().optional() }),
  async run(raw, ctx) {
    refuseForce('push', raw);
    const a = parseArgs('git.push', PushArgs, raw);
    checkFlags('push', a.flags);
    const url = settingsOf(ctx, 'git.push').git.remotes[a.remote];
    if (!url) {
      throw new ToolError(
        'GIT.REMOTE_REFUSED',
        `git.push: remote "${a.remote}" is not configured (WORKER_GIT_REMOTES)`,
      );
    }
    if (!/^[A-Za-z0-9_.-]+$/.test(a.remote) || a.remote.startsWith('.')) {
      throw new ToolError('GIT.REMOTE_REFUSED', `git.push: "${a.remote}" is not a plain remote name`);
    }
    // what the worker last saw of the remote branch: set by its own previous push (a push to a URL
    // updates no remote-tracking ref by itself)
    const seen = `refs/remotes/${a.remote}/${a.branch}`;
    const lease: string[] = [];
    if (a.force_with_lease === true) {
      const known = await git(ctx, ['rev-parse', '--verify', '--quiet', `${seen}^{commit}`], 'git.push').catch(
        () => undefined,
      );
      // an empty expectation: the branch must not exist on the remote yet
      lease.push(`--force-with-lease=refs/heads/${a.branch}:${known?.stdout.trim() ?? ''}`);
    }
    // push to the configured URL, never to what the repository's config says the remote is
    const r = await git(
      ctx,
      ['push', '--no-verify', ...lease, ...a.flags, '--', url, `refs/heads/${a.branch}:refs/heads/${a.branch}`],
      'git.push',
    );
    if (!a.flags.includes('--dry-run')) {
      await git(ctx, ['update-ref', seen, `refs/heads/${a.branch}`], 'git.push');
    }
    return {
      stdout: r.stdout + r.stderr,
      truncated: r.truncated,
      remote: a.remote,
      branch: a.branch,
      ...(a.force_with_lease === true ? { force_with_lease: true } : {}),
    };
  },
};

export const gitBranchTool: Tool = {
  name: 'git.branch',
  idempotent: false,
  spawns: true,
  args: BranchArgs,
  result: Output,
  async run(raw, ctx) {
    refuseForce('branch', raw);
    const a = parseArgs('git.branch', BranchArgs, raw);
    checkFlags('branch', a.flags);
    if (!a.name) return out(await git(ctx, ['branch', '--list', ...a.flags], 'git.branch'));
    const r = await git(ctx, ['branch', ...a.flags, a.name], 'git.branch');
    if (a.switch) await git(ctx, ['switch', a.name], 'git.branch');
    return out(r);
  },
};

export const gitTools: Tool[] = [
  gitStatusTool,
  gitDiffTool,
  gitAddTool,
  gitCommitTool,
  gitRevertTool,
  gitPushTool,
  gitBranchTool,
];
