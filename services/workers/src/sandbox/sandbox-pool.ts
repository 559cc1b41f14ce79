import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import type { RunResult } from '@warden/contracts';
import type { Logger } from '@warden/observability';
import { failureResult } from '../execution/domain/result';
import type { SandboxMessage, SandboxRequest } from './protocol';

/** Where the compiled sandbox entry is (from `src/` under ts-jest, the built `dist/` twin). */
export function sandboxEntry(): string {
  const dir = __filename.endsWith('.ts') ? __dirname.replace(/([/\\])src([/\\])/, '$1dist$2') : __dirname;
  return path.join(dir, 'sandbox-child.js');
}

export interface PoolOptions {
  /** Wrapper argv (prlimit, unshare, setpriv) put before `node sandbox-child.js`. */
  prefix: string[];
  /** Idle sandboxes kept started ahead of need. */
  warm: number;
  /** Executions a sandbox serves before it is replaced (1: a fresh process every time). */
  reuse: number;
  /** The exact environment of a sandbox. */
  env: Record<string, string>;
  entry?: string;
  log?: Logger;
  /** Counts each process start by why it started (see {@link StartReason}). */
  onStart?: (reason: StartReason) => void;
  /**
   * With none idle, how long an execution waits for a busy sandbox to come back before a new one is
   * started for it (0: at once). Default {@link GROW_AFTER_MS}.
   */
  growAfterMs?: number;
}

/**
 * The default wait for a busy sandbox before the pool grows. A start costs ~200 ms of CPU here, while
 * most tools finish in a millisecond or two: a burst of them is served by the sandboxes it has, and the
 * pool grows only for executions that are slow enough to make others wait this long.
 */
export const GROW_AFTER_MS = 25;

/** An execution waiting for a sandbox (see {@link PoolOptions.growAfterMs}). */
interface Waiter {
  give(sb: Sandbox): void;
  fail(err: Error): void;
  timer?: NodeJS.Timeout;
}

/**
 * Why a sandbox started: `warm` (at start-up), `refill` (topping up the idle ones), `recycle` (the
 * successor of one retired after its uses or a program-starting tool), `on_path` (an execution found
 * none started and waited for a new one: the pool is smaller than the load).
 */
export type StartReason = 'warm' | 'refill' | 'recycle' | 'on_path';

interface Sandbox {
  child: ChildProcess;
  ready: Promise<void>;
  /** `ready` has resolved: the process said it is ready. */
  isReady: boolean;
  uses: number;
  dead: boolean;
  /** Settles the execution in hand when the process dies. */
  onDeath?: (why: string) => void;
}

/** What the pool needs to know of the tool being run. */
export interface ExecSpec {
  idempotent: boolean;
  /** The tool starts programs: its sandbox is never reused, and its process group is killed after. */
  spawns: boolean;
}

let nextId = 1;

/** How long a starting sandbox may take to report ready (namespaces, mounts and Node start-up). */
const READY_TIMEOUT_MS = 30_000;

/**
 * A pool of sandbox processes (one kind: with or without network). Each execution takes an idle
 * sandbox — or, with none idle, the first busy one to come back, starting a new one only if none comes
 * back within `growAfterMs` — sends it the request and waits for the result within a wall-clock
 * budget; past it, the sandbox's whole process group is SIGKILLed. A sandbox that dies mid-execution
 * ends the run failed, `outcome_unknown` unless the tool is idempotent.
 */
export class SandboxPool {
  private readonly idle: Sandbox[] = [];
  private readonly all = new Set<Sandbox>();
  /** Executions waiting for a sandbox, oldest first. */
  private readonly waiters: Waiter[] = [];
  private closed = false;
  private readonly entry: string;

  /** Sandboxes started and waiting, and the rest (executing, or starting for one). */
  state(): { idle: number; busy: number } {
    return { idle: this.idle.length, busy: this.all.size - this.idle.length };
  }

  constructor(private readonly opts: PoolOptions) {
    this.entry = opts.entry ?? sandboxEntry();
    if (!existsSync(this.entry)) {
      throw new Error(`${this.entry} is missing: run \`npm run build\` (workers run tools in built sandbox processes)`);
    }
  }

  /** Starts the warm sandboxes and waits until they are ready. */
  async warmUp(): Promise<void> {
    while (this.idle.length < this.opts.warm) this.idle.push(this.start('warm'));
    await Promise.all(this.idle.map((s) => s.ready));
  }

  async execute(req: Omit<SandboxRequest, 'id'>, spec: ExecSpec): Promise<RunResult> {
    if (this.closed) throw new Error('sandbox pool closed');
    const sb = await this.take();
    // starting a sandbox forks the worker synchronously: top up the idle ones after this request is sent
    this.refillSoon();
    try {
      await sb.ready;
    } catch (err) {
      this.retire(sb);
      return failureResult({ code: 'SANDBOX.START_FAILED', message: (err as Error).message });
    }
    const id = nextId++;
    const result = await new Promise<RunResult>((resolve) => {
      const timer = setTimeout(() => {
        done();
        this.kill(sb);
        resolve(
          failureResult(
            {
              code: 'TOOL.TIMEOUT',
              message: `${req.action.tool} ran longer than ${req.timeoutMs} ms; its process group was killed`,
            },
            !spec.idempotent,
          ),
        );
      }, req.timeoutMs + 1000);
      const onMessage = (m: SandboxMessage) => {
        if (!('id' in m) || m.id !== id) return;
        done();
        resolve(m.result);
      };
      const done = () => {
        clearTimeout(timer);
        sb.child.off('message', onMessage);
        sb.onDeath = undefined;
      };
      sb.onDeath = (why) => {
        done();
        resolve(
          failureResult(
            { code: 'SANDBOX.DIED', message: `the sandbox executing ${req.action.tool} died (${why})` },
            !spec.idempotent,
          ),
        );
      };
      sb.child.on('message', onMessage);
      sb.child.send(
        { ...req, id } satisfies SandboxRequest,
        (err) => err && sb.onDeath?.(`send failed: ${err.message}`),
      );
    });
    sb.uses++;
    if (sb.dead || spec.spawns || sb.uses >= this.opts.reuse) {
      this.retire(sb);
      // its successor starts now, not when the next execution finds no idle sandbox: the pool keeps its size
      if (!this.closed) this.release(this.start('recycle'));
    } else this.release(sb);
    return result;
  }

  /** Kills every sandbox (and whatever they started). */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w.fail(new Error('sandbox pool closed'));
    const exits = [...this.all].map((s) => new Promise((r) => (s.dead ? r(undefined) : s.child.once('exit', r))));
    for (const s of this.all) this.kill(s);
    await Promise.race([Promise.all(exits), new Promise((r) => setTimeout(r, 2000))]);
  }

  get size(): number {
    return this.all.size;
  }

  /** Sandboxes started (or starting) and waiting for an execution. */
  get idleSize(): number {
    return this.idle.filter((s) => !s.dead).length;
  }

  /**
   * An idle sandbox that is ready (the oldest), else one still starting (the oldest: it is nearest to
   * ready), else the first busy one to come back — or, if none comes back within `growAfterMs`, a new
   * one. A starting successor never makes an execution wait while a ready one idles.
   */
  private take(): Promise<Sandbox> {
    for (let i = this.idle.length - 1; i >= 0; i--) if (this.idle[i]!.dead) this.idle.splice(i, 1);
    const at = this.idle.findIndex((s) => s.isReady);
    if (at >= 0) return Promise.resolve(this.idle.splice(at, 1)[0]!);
    const starting = this.idle.shift();
    if (starting) return Promise.resolve(starting);
    const grow = this.opts.growAfterMs ?? GROW_AFTER_MS;
    if (grow <= 0 || this.all.size === 0) return Promise.resolve(this.start('on_path'));
    return new Promise<Sandbox>((resolve, reject) => {
      const w: Waiter = {
        give: (sb) => {
          clearTimeout(w.timer);
          resolve(sb);
        },
        fail: (err) => {
          clearTimeout(w.timer);
          reject(err);
        },
      };
      w.timer = setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(this.start('on_path'));
      }, grow);
      this.waiters.push(w);
    });
  }

  /** A sandbox back from an execution (or a successor just started): to the oldest waiter, else idle. */
  private release(sb: Sandbox): void {
    const w = this.waiters.shift();
    if (w) w.give(sb);
    else this.idle.push(sb);
  }

  private refill(): void {
    // while executions wait, every sandbox is busy and comes back to them: growth is their timers' call
    if (this.closed || this.waiters.length > 0) return;
    const live = this.idle.filter((s) => !s.dead).length;
    for (let i = live; i < this.opts.warm; i++) this.idle.push(this.start('refill'));
  }

  private refillPending = false;

  /** {@link refill} once the current turn is over (several takes in one turn: one refill). */
  private refillSoon(): void {
    if (this.refillPending) return;
    this.refillPending = true;
    setImmediate(() => {
      this.refillPending = false;
      this.refill();
    });
  }

  private start(reason: StartReason): Sandbox {
    this.opts.onStart?.(reason);
    const argv = [...this.opts.prefix, process.execPath, this.entry];
    const child = spawn(argv[0]!, argv.slice(1), {
      env: this.opts.env,
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'json',
    });
    const sb: Sandbox = {
      child,
      uses: 0,
      dead: false,
      ready: Promise.resolve(),
      isReady: false,
    };
    this.all.add(sb);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-2000);
    });
    sb.ready = new Promise<void>((resolve, reject) => {
      // a sandbox that never says ready (e.g. started while its cgroup had no process left to give
      // a thread) must not hold an execution forever
      const stuck = setTimeout(() => {
        reject(new Error(`sandbox not ready after ${READY_TIMEOUT_MS} ms: ${stderr.trim()}`));
        this.kill(sb);
      }, READY_TIMEOUT_MS);
      stuck.unref();
      const onReady = (m: SandboxMessage) => {
        if ('ready' in m) {
          sb.isReady = true;
          clearTimeout(stuck);
          child.off('message', onReady);
          resolve();
        }
      };
      child.once('exit', () => clearTimeout(stuck));
      child.on('message', onReady);
      child.once('exit', (code, signal) =>
        reject(new Error(`sandbox exited (${code ?? signal}) before ready: ${stderr.trim()}`)),
      );
      child.once('error', reject);
    });
    sb.ready.catch(() => undefined);
    child.once('exit', (code, signal) => {
      sb.dead = true;
      this.all.delete(sb);
      if (sb.onDeath) {
        sb.onDeath(`exit ${code ?? signal}${stderr ? `: ${stderr.trim().slice(-300)}` : ''}`);
      } else if (!this.closed && code !== 0 && signal !== 'SIGKILL') {
        this.opts.log?.warn('sandbox exited', { code, signal, stderr: stderr.trim().slice(-500) });
      }
    });
    child.on('error', (err) => this.opts.log?.warn('sandbox error', { error: err }));
    return sb;
  }

  private retire(sb: Sandbox): void {
    this.kill(sb);
  }

  /** SIGKILL to the sandbox's process group: it and every program it started. */
  private kill(sb: Sandbox): void {
    if (sb.dead || !sb.child.pid) return;
    try {
      process.kill(-sb.child.pid, 'SIGKILL');
    } catch {
      sb.child.kill('SIGKILL');
    }
  }
}
