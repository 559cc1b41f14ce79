import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { RunResult } from '@warden/contracts';
import type { Logger } from '@warden/observability';
import { failureResult } from '../execution/domain/result';
import { BUNDLE, MANIFEST } from './bundle-files';
import type { SandboxMessage, SandboxRequest } from './protocol';

/**
 * Where the compiled sandbox entry is (from `src/` under ts-jest, the built `dist/` twin): the
 * bundle's loader when `tools/bundle-sandbox.js` made a bundle of exactly the modules built now, else
 * the plain module (a build without that step, or one made since).
 */
export function sandboxEntry(): string {
  const dir = __filename.endsWith('.ts') ? __dirname.replace(/([/\\])src([/\\])/, '$1dist$2') : __dirname;
  return bundleMatches(dir) ? path.join(dir, 'sandbox-loader.js') : path.join(dir, 'sandbox-child.js');
}

const bundleChecked = new Map<string, boolean>();

/** The bundle in `dir` was made from the files there now (each input's sha256, once per process). */
export function bundleMatches(dir: string): boolean {
  let ok = bundleChecked.get(dir);
  if (ok !== undefined) return ok;
  try {
    const { inputs } = JSON.parse(readFileSync(path.join(dir, MANIFEST), 'utf8')) as {
      inputs: Record<string, string>;
    };
    ok =
      existsSync(path.join(dir, BUNDLE)) &&
      Object.keys(inputs).length > 0 &&
      Object.entries(inputs).every(
        ([file, sha]) =>
          createHash('sha256')
            .update(readFileSync(path.resolve(dir, file)))
            .digest('hex') === sha,
      );
  } catch {
    ok = false;
  }
  bundleChecked.set(dir, ok);
  return ok;
}

export interface PoolOptions {
  /** Wrapper argv (prlimit, unshare, setpriv) put before `node <entry>`. */
  prefix: string[];
  /** Sandboxes kept started, at least (the pool grows past it only when stalled). */
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
   * How long the pool must be stalled — executions waiting, and no sandbox back, ready or started — before
   * it starts one more (0: one for every waiting execution at once). Default {@link GROW_AFTER_MS}.
   */
  growAfterMs?: number;
}

/**
 * The default silence (no sandbox back, ready or started while executions wait) before the pool grows.
 * A start costs 200–350 ms of CPU here, while most tools finish in a millisecond or two: a burst of
 * them is served by the sandboxes it has, and the pool grows only while slow executions hold them all.
 * 25 ms was too short: on a saturated machine a sandbox waiting for a core goes quiet that long, and a
 * start then only made the machine busier. A third of a start's own time is cheap insurance.
 */
export const GROW_AFTER_MS = 100;

/**
 * The window over which a pool measures its queue: when executions waited, on average, one or more at
 * a time over a whole window (their waits summed ≥ the window), one sandbox more would have served
 * them, and the pool starts one (`queue`). A burst waits milliseconds and never adds up to that; a
 * steady load that keeps every sandbox busy does (a saturating closed loop did, and served ~20–30 %
 * fewer runs a second on the two sandboxes it kept). At most one such start per window and pool.
 */
export const QUEUE_WINDOW_MS = 500;

/** An execution waiting for a sandbox (see {@link PoolOptions.growAfterMs}). */
interface Waiter {
  give(sb: Sandbox): void;
  fail(err: Error): void;
  /** When it began to wait (performance.now()). */
  since: number;
}

/**
 * Why a sandbox started: `warm` (at start-up), `refill` (back to `warm` after one died), `recycle` (the
 * successor of one retired after its uses or a program-starting tool), `on_path` (executions waited
 * and the pool was stalled: nothing came back for `growAfterMs`, so slow executions hold every sandbox),
 * `queue` (executions waited one or more at a time on average over {@link QUEUE_WINDOW_MS}).
 */
export type StartReason = 'warm' | 'refill' | 'recycle' | 'on_path' | 'queue';

interface Sandbox {
  child: ChildProcess;
  ready: Promise<void>;
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
 * A pool of sandbox processes (one kind: with or without network). Each execution takes the idle
 * sandbox back last — or, with none idle, waits for the first sandbox to come back or become ready —
 * sends it the request and waits for the result within a wall-clock budget; past it, the sandbox's
 * whole process group is SIGKILLed. A sandbox that dies mid-execution ends the run failed,
 * `outcome_unknown` unless the tool is idempotent.
 *
 * The pool grows when it is stalled: executions wait and no sandbox came back, became ready or
 * was started for `growAfterMs`. Then it starts one, and another after `growAfterMs` more of the same.
 * A machine too busy to answer at once makes sandboxes come back late but steadily, and a start (some
 * 200–300 ms of CPU) would only make it busier; executions held by slow tools make the pool silent, and
 * a new sandbox is what they need. It also grows, by one per {@link QUEUE_WINDOW_MS} at most, while
 * executions queue one or more at a time on average: a steady load the sandboxes it has cannot keep up
 * with, not a burst.
 */
export class SandboxPool {
  /** Ready and unused, the one back last at the end. */
  private readonly idle: Sandbox[] = [];
  /** Started and not ready yet: each goes to the oldest waiter (or idle) once ready. */
  private readonly starting = new Set<Sandbox>();
  private readonly all = new Set<Sandbox>();
  /** Executions waiting for a sandbox, oldest first. */
  private readonly waiters: Waiter[] = [];
  /** When a sandbox last came back, became ready or was started (performance.now()). */
  private lastProgress = 0;
  /** Start of the current queue window, and the ms executions waited in it so far (finished waits). */
  private windowSince = performance.now();
  private waitedMs = 0;
  private growTimer?: NodeJS.Timeout;
  private closed = false;
  private readonly entry: string;

  /** Sandboxes started (or starting) and waiting, and the rest (executing). */
  state(): { idle: number; busy: number } {
    const idle = this.idle.length + this.starting.size;
    return { idle, busy: this.all.size - idle };
  }

  constructor(private readonly opts: PoolOptions) {
    this.entry = opts.entry ?? sandboxEntry();
    if (!existsSync(this.entry)) {
      throw new Error(`${this.entry} is missing: run \`npm run build\` (workers run tools in built sandbox processes)`);
    }
  }

  /** Starts the warm sandboxes and waits until they are ready. */
  async warmUp(): Promise<void> {
    const started: Sandbox[] = [];
    while (this.idle.length + this.starting.size < this.opts.warm) started.push(this.start('warm'));
    await Promise.all(started.map((s) => s.ready));
  }

  async execute(req: Omit<SandboxRequest, 'id'>, spec: ExecSpec): Promise<RunResult> {
    if (this.closed) throw new Error('sandbox pool closed');
    const sb = await this.take();
    // starting a sandbox forks the worker synchronously: restore the pool's floor after this request is sent
    this.refillSoon();
    try {
      // a sandbox from take() is ready, or failed to start (its waiter reports why)
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
      if (!this.closed) this.start('recycle');
    } else this.release(sb);
    return result;
  }

  /** Kills every sandbox (and whatever they started). */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.growTimer);
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
    return this.idle.filter((s) => !s.dead).length + this.starting.size;
  }

  /**
   * The idle sandbox back last (its code is compiled and optimised, its memory warm: a pool that grew
   * for a burst keeps its extra sandboxes idle instead of spreading the work thin over processes that
   * each stay cold); with none, the first sandbox to come back or become ready. A starting sandbox
   * never makes an execution wait while another comes back sooner.
   */
  private take(): Promise<Sandbox> {
    for (let i = this.idle.length - 1; i >= 0; i--) if (this.idle[i]!.dead) this.idle.splice(i, 1);
    const sb = this.idle.pop();
    if (sb) return Promise.resolve(sb);
    return new Promise<Sandbox>((resolve, reject) => {
      this.waiters.push({ give: resolve, fail: reject, since: performance.now() });
      this.growIfStalled();
    });
  }

  /**
   * Starts a sandbox for the waiting executions if the pool is stalled (see the class comment): more
   * waiters than sandboxes on their way, and nothing came back, became ready or started for
   * `growAfterMs` (nor since the oldest began to wait). Otherwise looks again when that would be so.
   */
  private growIfStalled(): void {
    clearTimeout(this.growTimer);
    this.growTimer = undefined;
    if (this.closed || this.waiters.length <= this.starting.size) return;
    const grow = this.opts.growAfterMs ?? GROW_AFTER_MS;
    const now = performance.now();
    // with nothing at all (no sandbox, none starting) there is nothing to wait for
    const due = this.all.size === 0 ? now : Math.max(this.lastProgress, this.waiters[0]!.since) + Math.max(0, grow);
    if (grow <= 0 || due <= now) {
      this.start('on_path');
      // with no wait configured: one start per waiter beyond those on their way (the old behaviour)
      if (grow <= 0) this.growIfStalled();
      else this.scheduleGrowth(grow);
      return;
    }
    this.scheduleGrowth(due - now);
  }

  private scheduleGrowth(ms: number): void {
    if (this.waiters.length <= this.starting.size) return;
    this.growTimer = setTimeout(() => this.growIfStalled(), Math.ceil(ms));
  }

  /** A sandbox back from an execution, or just ready: to the oldest waiter, else idle. */
  private release(sb: Sandbox): void {
    const now = performance.now();
    this.lastProgress = now;
    const w = this.waiters.shift();
    if (w) {
      this.waitedMs += now - Math.max(w.since, this.windowSince);
      w.give(sb);
    } else this.idle.push(sb);
    if (this.growTimer) this.growIfStalled();
    this.growIfQueued(now);
  }

  /**
   * At the end of each {@link QUEUE_WINDOW_MS}: one sandbox more when executions waited one or more at
   * a time on average over it (finished waits and the time the waiting ones have waited in it), and none
   * is starting already.
   */
  private growIfQueued(now: number): void {
    const span = now - this.windowSince;
    if (span < QUEUE_WINDOW_MS) return;
    let waited = this.waitedMs;
    for (const w of this.waiters) waited += now - Math.max(w.since, this.windowSince);
    this.windowSince = now;
    this.waitedMs = 0;
    if (waited >= span && this.starting.size === 0 && !this.closed) this.start('queue');
  }

  /** A started sandbox that failed before ready: a waiter is told (its execution fails), else it goes. */
  private startFailed(sb: Sandbox): void {
    const w = this.waiters.shift();
    if (w) w.give(sb);
    else this.kill(sb);
  }

  /**
   * Keeps the pool at `warm` sandboxes at least (one that died is replaced). It never grows the pool
   * past that: sandboxes coming back serve the next executions, and growth is {@link growIfStalled}'s
   * call — topping up the idle ones after every burst grew a pool to its peak concurrency, each start
   * costing CPU the busy machine did not have.
   */
  private refill(): void {
    if (this.closed) return;
    let live = 0;
    for (const s of this.all) if (!s.dead) live++;
    for (let i = live; i < this.opts.warm; i++) this.start('refill');
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
    };
    this.all.add(sb);
    this.starting.add(sb);
    this.lastProgress = performance.now();
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
    sb.ready.then(
      () => {
        this.starting.delete(sb);
        if (this.closed) this.kill(sb);
        else this.release(sb);
      },
      () => {
        this.starting.delete(sb);
        if (!this.closed) this.startFailed(sb);
      },
    );
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

  /**
   * SIGKILL to the sandbox's process group: it and every program it started. It is dead from now on,
   * not from its exit event: a sandbox killed for running past its time must not go back to the idle
   * ones (or to a waiter) in the moment before the exit is seen.
   */
  private kill(sb: Sandbox): void {
    if (sb.dead || !sb.child.pid) return;
    sb.dead = true;
    try {
      process.kill(-sb.child.pid, 'SIGKILL');
    } catch {
      sb.child.kill('SIGKILL');
    }
  }
}
