import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { z } from 'zod';
// argument schemas live in libs/contracts (tools.ts): workers and policy's rewrite checks share them
import { ShellExecArgs as Args } from '@warden/contracts';
import { constrainedEnv } from '../execution/domain/constraints';
import { resolveExisting } from './path-safety';
import { scrubbedEnv } from './domain/environment';
import { runProgram } from './program';
import { ToolError, parseArgs, settingsOf, type Tool } from './domain/tool';

/**
 * `shell.exec {argv, cwd?, stdin?, timeout_ms?}` → `{exit_code, signal, stdout, stderr, truncated, timed_out}`.
 * No shell: `argv[0]` must be on the allow-list (`WORKER_SHELL_ALLOW`), the environment is scrubbed,
 * the working directory is inside the workspace, and the program's whole process group is killed on
 * timeout (`TOOL.TIMEOUT`). A non-zero exit is reported in the output, not as a failure.
 */
export const shellExecTool: Tool = {
  name: 'shell.exec',
  idempotent: false,
  spawns: true,
  args: Args,
  result: z.object({
    exit_code: z.number().int().nullable(),
    signal: z.string().nullable(),
    stdout: z.string(),
    stderr: z.string(),
    truncated: z.boolean(),
    timed_out: z.boolean(),
  }),
  async run(raw, ctx) {
    const a = parseArgs('shell.exec', Args, raw);
    const s = settingsOf(ctx, 'shell.exec');
    const program = a.argv[0]!;
    const allowed = s.shell.allow.some((p) => p === program || (path.isAbsolute(p) && path.basename(p) === program));
    if (!allowed) {
      throw new ToolError(
        'SHELL.PROGRAM_REFUSED',
        `shell.exec: "${program}" is not an allowed program (allowed: ${s.shell.allow.join(', ') || 'none'})`,
      );
    }
    // a bare name that matched an absolute allow-list entry runs exactly that file
    const file = s.shell.allow.find((p) => path.isAbsolute(p) && path.basename(p) === program) ?? program;
    const cwd = await resolveExisting(ctx.root, a.cwd);
    const timeoutMs = Math.min(a.timeout_ms ?? s.shell.timeoutMs, s.shell.timeoutMs);
    // HOME is an empty directory of its own, never the workspace: rc files an agent can write there
    // (.gitconfig with an alias or pager, .npmrc with node-options, .curlrc with -o) would turn an
    // allowed program into any program
    const home = await fs.mkdtemp(path.join(tmpdir(), 'warden-home-'));
    const r = await runProgram([file, ...a.argv.slice(1)], {
      cwd,
      env: constrainedEnv(ctx.constraints, scrubbedEnv({ HOME: home })),
      timeoutMs,
      maxOutput: s.maxProgramOutput,
      stdin: a.stdin,
      signal: ctx.signal,
      shareGroup: ctx.sandboxed,
    }).finally(() => fs.rm(home, { recursive: true, force: true }).catch(() => undefined));
    if (r.timed_out) {
      throw new ToolError(
        'TOOL.TIMEOUT',
        `shell.exec: ${program} ran longer than ${timeoutMs} ms; its process group was killed. stderr: ${r.stderr.slice(-500)}`,
      );
    }
    return r;
  },
};
