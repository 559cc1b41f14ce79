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
import { checkFlags, gitArgv, gitDir, gitEnv, pathspecs, refuseForce, repoConfigKeyAllowed } from './domain/git-rules';
import { runProgram, type ProgramResult } from './program';
import { ToolError, parseArgs, settingsOf, type Tool, type ToolContext, type ToolSettings } from './domain/tool';

/**
 * Refuses a repository git could be made to run code from: `.git` must be a real directory (not a
 * symlink or a `gitdir:` file), have no `commondir` (which would move its config elsewhere), and a
 * config with only allowed keys (`ALLOWED_REPO_CONFIG`, domain/git-rules.ts; read with `--file`, which follows no include).
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
    if (!repoConfigKeyAllowed(key)) {
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
  const argv = gitArgv(ctx.root, s.git, args);
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
