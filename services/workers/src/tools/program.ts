import { spawn } from 'node:child_process';
import { ToolError } from './domain/tool';

/** What a finished program left. */
export interface ProgramResult {
  exit_code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  /** stdout or stderr was longer than the cap and was cut. */
  truncated: boolean;
  timed_out: boolean;
}

export interface ProgramOptions {
  cwd: string;
  /** Exactly the environment the program gets (nothing is inherited). */
  env: Record<string, string>;
  timeoutMs: number;
  maxOutput: number;
  stdin?: string;
  signal?: AbortSignal;
  /**
   * Stay in the caller's process group (inside a sandbox, whose group is killed after the
   * execution and when its worker goes away) instead of leading a group of its own.
   */
  shareGroup?: boolean;
}

/**
 * Runs `argv` without a shell in its own process group; on timeout (or abort) the whole group is
 * killed, so a grandchild cannot outlive it. Output beyond `maxOutput` bytes per stream is dropped.
 * @example await runProgram(['git', 'status'], { cwd, env: scrubbedEnv(), timeoutMs: 5000, maxOutput: 65536 })
 */
export function runProgram(argv: readonly string[], opts: ProgramOptions): Promise<ProgramResult> {
  const [file, ...args] = argv;
  if (!file) return Promise.reject(new ToolError('TOOL.INVALID_ARGS', 'empty argv'));
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: opts.cwd,
      env: opts.env,
      detached: !opts.shareGroup,
      shell: false,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    let truncated = false;
    let timedOut = false;
    const keep = (into: Buffer[], size: number, chunk: Buffer): number => {
      const room = opts.maxOutput - size;
      if (room <= 0) {
        truncated = true;
        return size;
      }
      if (chunk.length > room) truncated = true;
      into.push(chunk.subarray(0, room));
      return size + Math.min(room, chunk.length);
    };
    child.stdout.on('data', (c: Buffer) => (outBytes = keep(out, outBytes, c)));
    child.stderr.on('data', (c: Buffer) => (errBytes = keep(err, errBytes, c)));
    const killGroup = (): void => {
      try {
        if (child.pid) process.kill(opts.shareGroup ? child.pid : -child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, opts.timeoutMs);
    const onAbort = (): void => {
      timedOut = true;
      killGroup();
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      reject(
        e.code === 'ENOENT'
          ? new ToolError('PROGRAM.NOT_FOUND', `program "${file}" not found`)
          : new ToolError('PROGRAM.FAILED', `could not start "${file}": ${e.code ?? e.message}`),
      );
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      // whatever the program left running in its group goes with it (in a sandbox: with the sandbox)
      if (!opts.shareGroup) killGroup();
      resolve({
        exit_code: code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        truncated,
        timed_out: timedOut,
      });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.stdin ?? '');
  });
}
