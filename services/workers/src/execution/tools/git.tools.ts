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
import { resolveLexically } from './path-safety';
import { runProgram, scrubbedEnv, type ProgramResult } from './program';
import { ToolError, parseArgs, settingsOf, type Tool, type ToolContext } from './tool';

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
 * Runs git on the workspace repository: no system or global config, hooks and fsmonitor off, no
 * prompts, no pager; `-c` settings come first so the repository's own config cannot re-enable them.
 */
export async function git(ctx: ToolContext, args: readonly string[], tool: string): Promise<ProgramResult> {
  const s = settingsOf(ctx, tool);
  const argv = [
    'git',
    '-c',
    `safe.directory=${ctx.root}`,
    '-c',
    'core.hooksPath=/dev/null',
    '-c',
    'core.fsmonitor=false',
    '-c',
    'core.pager=cat',
    '-c',
    'protocol.ext.allow=never',
    '-c',
    `user.name=${s.git.authorName}`,
    '-c',
    `user.email=${s.git.authorEmail}`,
    ...args,
  ];
  const r = await runProgram(argv, {
    cwd: ctx.root,
    env: scrubbedEnv({
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_TERMINAL_PROMPT: '0',
      GIT_ASKPASS: '/bin/false',
      GIT_SSH_COMMAND: 'ssh -o BatchMode=yes',
    }),
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

/** Refuses force in any spelling before schema parsing, so the refusal names it. */
function refuseForce(op: string, raw: Record<string, unknown>): void {
  for (const k of Object.keys(raw)) {
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
    return out(await git(ctx, ['status', '--porcelain=v1', ...a.flags], 'git.status'));
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
      await git(ctx, ['diff', '--no-ext-diff', ...a.flags, '--', ...pathspecs(ctx.root, a.paths)], 'git.diff'),
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
  result: Output.extend({ remote: z.string(), branch: z.string() }),
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
    // push to the configured URL, never to what the repository's config says the remote is
    const r = await git(
      ctx,
      ['push', '--no-verify', ...a.flags, url, `refs/heads/${a.branch}:refs/heads/${a.branch}`],
      'git.push',
    );
    return { stdout: r.stdout + r.stderr, truncated: r.truncated, remote: a.remote, branch: a.branch };
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
