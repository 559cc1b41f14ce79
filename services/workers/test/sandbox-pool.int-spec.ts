import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { waitFor } from '@warden/testing';
import { QUEUE_WINDOW_MS, SandboxPool, bundleMatches, sandboxEntry } from '../src/sandbox/sandbox-pool';
import { SANDBOX_ENV } from '../src/execution/tool-runner.service';
import { defaultToolSettings } from '../src/tools/domain/tool';

/** The pool with the real (built) sandbox entry: start-up stays off the execution's path. */
describe('SandboxPool replacement (real sandbox processes)', () => {
  let root: string;
  const request = (file: string) => ({
    action: { tool: 'fs.read_file', args: { path: file } },
    tools: ['fs.read_file'],
    root,
    constraints: {},
    settings: defaultToolSettings(),
    timeoutMs: 10_000,
  });
  const pure = { idempotent: true, spawns: false };

  beforeAll(() => {
    root = mkdtempSync(path.join(tmpdir(), 'warden-pool-'));
    writeFileSync(path.join(root, 'a.txt'), 'hello\n');
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('a sandbox retired after its last use is replaced at once, without an execution asking', async () => {
    const pool = new SandboxPool({ prefix: [], warm: 0, reuse: 2, env: SANDBOX_ENV });
    try {
      expect(pool.size).toBe(0);
      for (let i = 0; i < 2; i++) {
        const r = await pool.execute(request('a.txt'), pure);
        expect(r.error).toBeUndefined();
      }
      // warm is 0: only the replacement of the retired sandbox can be idle here
      await waitFor(async () => pool.size === 1 && pool.idleSize === 1, 'a successor to start', 5000, 20);
      const r = await pool.execute(request('a.txt'), pure);
      expect(r.error).toBeUndefined();
      expect(pool.size).toBe(1);
    } finally {
      await pool.close();
    }
  });

  it('a tool that starts programs never reuses its sandbox, and the pool keeps one ready for the next', async () => {
    const pool = new SandboxPool({ prefix: [], warm: 1, reuse: 100, env: SANDBOX_ENV });
    try {
      await pool.warmUp();
      const r = await pool.execute(request('a.txt'), { idempotent: true, spawns: true });
      expect(r.error).toBeUndefined();
      await waitFor(async () => pool.size >= 1 && pool.idleSize >= 1, 'a ready sandbox', 5000, 20);
      // the used sandbox is gone: only fresh ones remain
      await waitFor(async () => pool.size === pool.idleSize, 'the used sandbox to exit', 5000, 20);
    } finally {
      await pool.close();
    }
  });

  it('an execution takes a ready sandbox before a starting successor, and every start is counted by why', async () => {
    const starts: string[] = [];
    const pool = new SandboxPool({
      prefix: [],
      warm: 2,
      reuse: 1,
      env: SANDBOX_ENV,
      onStart: (reason) => starts.push(reason),
      growAfterMs: 0, // no waiting for a busy one: a start for every execution beyond the idle ones
    });
    try {
      await pool.warmUp();
      expect(starts).toEqual(['warm', 'warm']);
      // reuse 1: each execution retires its sandbox and starts a successor (not ready for a while)
      const first = await pool.execute(request('a.txt'), pure);
      expect(first.error).toBeUndefined();
      expect(starts.filter((s) => s === 'recycle')).toHaveLength(1);
      // the next one is served at once by the other warm (ready) sandbox, not the successor still starting
      const t = performance.now();
      const second = await pool.execute(request('a.txt'), pure);
      const ms = performance.now() - t;
      expect(second.error).toBeUndefined();
      expect(starts).not.toContain('on_path');
      // a Node start inside a sandbox takes far longer than an IPC round trip to a ready one
      expect(ms).toBeLessThan(1000);
      // one more at once than there are idle sandboxes: the last waits for a new one, counted as on the path
      await waitFor(async () => pool.idleSize >= 2 && pool.size === pool.idleSize, 'the pool at rest', 10_000, 20);
      const idle = pool.idleSize;
      starts.length = 0;
      const all = await Promise.all(Array.from({ length: idle + 1 }, () => pool.execute(request('a.txt'), pure)));
      expect(all.filter((r) => r.error)).toEqual([]);
      expect(starts.filter((s) => s === 'on_path')).toHaveLength(1);
    } finally {
      await pool.close();
    }
  });

  it('with none idle, executions wait for a busy sandbox to come back; only one kept waiting by a slow execution grows the pool', async () => {
    // a wait long enough that the one sandbox surely comes back first, however busy the machine
    // no spare (warm 0), each start counted by why
    const emptyPool = (growAfterMs: number, starts: string[]) =>
      new SandboxPool({
        prefix: [],
        warm: 0,
        reuse: 100,
        env: SANDBOX_ENV,
        onStart: (reason) => starts.push(reason),
        growAfterMs,
      });
    const starts: string[] = [];
    const patient = emptyPool(10_000, starts);
    try {
      // one sandbox, started and ready (warm 0: the pool keeps no spare)
      expect((await patient.execute(request('a.txt'), pure)).error).toBeUndefined();
      expect(starts).toEqual(['on_path']);
      starts.length = 0;
      // a burst of quick executions, six for one sandbox: it serves them one after another (without
      // the wait for a busy one, five of them would each have started a sandbox of their own)
      const burst = await Promise.all(Array.from({ length: 6 }, () => patient.execute(request('a.txt'), pure)));
      expect(burst.filter((r) => r.error)).toEqual([]);
      expect(starts).toEqual([]);
      expect(patient.size).toBe(1);
    } finally {
      await patient.close();
    }

    // a slow execution holds the one sandbox: the next waits growAfterMs, then gets a new one, and ends first
    const grown: string[] = [];
    const pool = emptyPool(50, grown);
    try {
      expect((await pool.execute(request('a.txt'), pure)).error).toBeUndefined();
      grown.length = 0;
      const order: string[] = [];
      const slow = pool
        .execute(
          {
            ...request('a.txt'),
            action: { tool: 'shell.exec', args: { argv: ['sleep', '5'] } },
            tools: ['shell.exec'],
            settings: { ...defaultToolSettings(), shell: { ...defaultToolSettings().shell, allow: ['sleep'] } },
          },
          { idempotent: false, spawns: true },
        )
        .then((r) => (order.push('slow'), r));
      const quick = await pool.execute(request('a.txt'), pure);
      order.push('quick');
      expect(quick.error).toBeUndefined();
      expect(grown).toEqual(['on_path']);
      expect(order).toEqual(['quick']);
      expect((await slow).error).toBeUndefined();
    } finally {
      await pool.close();
    }
  });

  it('a pool busy but moving is not stalled: a queue grows it only by one per window while it lasts, never per waiting execution', async () => {
    const starts: string[] = [];
    // growth after 150 ms of silence; one sandbox serves queues that take far longer than that in all
    const pool = new SandboxPool({
      prefix: [],
      warm: 0,
      reuse: 100_000,
      env: SANDBOX_ENV,
      onStart: (reason) => starts.push(reason),
      growAfterMs: 150,
    });
    try {
      expect((await pool.execute(request('a.txt'), pure)).error).toBeUndefined();
      starts.length = 0;
      // queues of quick executions until they have lasted four windows: their last executions waited
      // far longer than growAfterMs, but a sandbox came back every few ms
      const t = performance.now();
      let n = 0;
      while (performance.now() - t < 4 * QUEUE_WINDOW_MS) {
        const all = await Promise.all(Array.from({ length: 200 }, () => pool.execute(request('a.txt'), pure)));
        expect(all.filter((r) => r.error)).toEqual([]);
        n += all.length;
      }
      const elapsed = performance.now() - t;
      // never stalled; hundreds waiting at once grew it by one per window at most, not one per waiter
      expect(starts.filter((r) => r !== 'queue')).toEqual([]);
      expect(starts.length).toBeGreaterThanOrEqual(1);
      expect(starts.length).toBeLessThanOrEqual(Math.floor(elapsed / QUEUE_WINDOW_MS) + 1);
      expect(pool.size).toBe(1 + starts.length);
      expect(n).toBeGreaterThanOrEqual(200);
    } finally {
      await pool.close();
    }
  });

  it('bursts that are over in a moment never grow the pool, however many sandboxes they could have used', async () => {
    const starts: string[] = [];
    const pool = new SandboxPool({
      prefix: [],
      warm: 1,
      reuse: 100_000,
      env: SANDBOX_ENV,
      onStart: (reason) => starts.push(reason),
      growAfterMs: 10_000,
    });
    try {
      await pool.warmUp();
      starts.length = 0;
      // four bursts of eight, a window and a half apart: each waits a few ms in all
      for (let i = 0; i < 4; i++) {
        const burst = await Promise.all(Array.from({ length: 8 }, () => pool.execute(request('a.txt'), pure)));
        expect(burst.filter((r) => r.error)).toEqual([]);
        await new Promise((r) => setTimeout(r, QUEUE_WINDOW_MS * 1.5));
      }
      expect(starts).toEqual([]);
      expect(pool.size).toBe(1);
    } finally {
      await pool.close();
    }
  });

  it('a sandbox that cannot start fails the execution waiting for it (SANDBOX.START_FAILED), never hangs it', async () => {
    const entry = path.join(root, 'exits.js');
    writeFileSync(entry, 'process.stderr.write("no sandbox here\\n"); process.exit(3);\n');
    const pool = new SandboxPool({ prefix: [], warm: 0, reuse: 100, env: SANDBOX_ENV, entry, growAfterMs: 25 });
    try {
      const results = await Promise.all([1, 2, 3].map(() => pool.execute(request('a.txt'), pure)));
      for (const r of results) {
        expect(r.error?.code).toBe('SANDBOX.START_FAILED');
        expect(r.error?.message).toContain('no sandbox here');
      }
    } finally {
      await pool.close();
    }
  });

  it('a sandbox killed for running past its time is never handed to the next execution', async () => {
    // a sandbox that says ready and never answers: every execution runs out of time
    const entry = path.join(root, 'hangs.js');
    writeFileSync(entry, 'process.send({ ready: true });\nprocess.on("message", () => undefined);\n');
    const pool = new SandboxPool({ prefix: [], warm: 1, reuse: 100, env: SANDBOX_ENV, entry });
    try {
      await pool.warmUp();
      const slow = { ...request('a.txt'), timeoutMs: 100 };
      const first = await pool.execute(slow, pure);
      expect(first.error?.code).toBe('TOOL.TIMEOUT');
      // the next one gets a fresh sandbox (which runs out of time in turn), not the killed one
      const second = await pool.execute(slow, pure);
      expect(second.error?.code).toBe('TOOL.TIMEOUT');
    } finally {
      await pool.close();
    }
  });

  it('sandboxes start from the bundle the build made (npm run build), and only while it matches every module it was made from', async () => {
    // this build's: the loader of the bundle, which the other tests here have been executing through
    expect(path.basename(sandboxEntry())).toBe('sandbox-loader.js');
    const sha = (text: string) => createHash('sha256').update(text).digest('hex');
    const dir = path.join(root, 'bundle-check');
    mkdirSync(path.join(dir, 'lib'), { recursive: true });
    writeFileSync(path.join(dir, 'lib', 'tool.js'), 'exports.v = 1;\n');
    writeFileSync(path.join(dir, 'sandbox-child.bundle.js'), '/* bundle */\n');
    const manifest = (inputs: Record<string, string>) =>
      writeFileSync(path.join(dir, 'sandbox-child.bundle.json'), JSON.stringify({ inputs }));
    manifest({ 'lib/tool.js': sha('exports.v = 1;\n') });
    expect(bundleMatches(dir)).toBe(true);
    // each answer is kept for the process: look at fresh copies of the folder
    const copy = (name: string) => {
      const d = path.join(root, name);
      mkdirSync(path.join(d, 'lib'), { recursive: true });
      writeFileSync(path.join(d, 'sandbox-child.bundle.js'), '/* bundle */\n');
      return d;
    };
    // a module rebuilt since the bundle was made: the plain modules, never stale code
    const changed = copy('bundle-changed');
    writeFileSync(path.join(changed, 'lib', 'tool.js'), 'exports.v = 2;\n');
    writeFileSync(
      path.join(changed, 'sandbox-child.bundle.json'),
      JSON.stringify({ inputs: { 'lib/tool.js': sha('exports.v = 1;\n') } }),
    );
    expect(bundleMatches(changed)).toBe(false);
    // a module gone, a manifest missing or unreadable, a bundle missing
    const gone = copy('bundle-gone');
    writeFileSync(path.join(gone, 'sandbox-child.bundle.json'), JSON.stringify({ inputs: { 'lib/x.js': sha('') } }));
    expect(bundleMatches(gone)).toBe(false);
    expect(bundleMatches(copy('bundle-no-manifest'))).toBe(false);
    const garbled = copy('bundle-garbled');
    writeFileSync(path.join(garbled, 'sandbox-child.bundle.json'), '{"inputs": ');
    expect(bundleMatches(garbled)).toBe(false);
    const noBundle = copy('bundle-missing');
    rmSync(path.join(noBundle, 'sandbox-child.bundle.js'));
    writeFileSync(path.join(noBundle, 'lib', 'tool.js'), 'exports.v = 1;\n');
    writeFileSync(
      path.join(noBundle, 'sandbox-child.bundle.json'),
      JSON.stringify({ inputs: { 'lib/tool.js': sha('exports.v = 1;\n') } }),
    );
    expect(bundleMatches(noBundle)).toBe(false);
  });

  it('a missing file is a tool error from the sandbox, and a closed pool starts nothing', async () => {
    const pool = new SandboxPool({ prefix: [], warm: 0, reuse: 1, env: SANDBOX_ENV });
    const r = await pool.execute(request('missing.txt'), pure);
    expect(r.error?.code).toBe('FS.NOT_FOUND');
    await pool.close();
    await new Promise((res) => setImmediate(res));
    expect(pool.idleSize).toBe(0);
    await expect(pool.execute(request('a.txt'), pure)).rejects.toThrow('sandbox pool closed');
  });
});
