#!/usr/bin/env node
'use strict';
/**
 * Isolation overhead of the workers: fs.read_file in-process vs in a sandbox process (spawn +
 * prlimit/unshare/setpriv, reused per WORKER_SANDBOX_REUSE), p50/p99, and isolated executions/s with
 * one and two pools (two worker processes each own one). Needs `npm run build`.
 *   node bench/workers.js [--n 2000] [--reuse 100]
 * Writes bench/results/workers.json.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const lib = require('./lib');

// the workers' execution internals, through the service package's entries (package.json "exports")
const { SandboxPool } = require('@warden/workers-service/sandbox-pool');
const { planSandbox } = require('@warden/workers-service/sandbox-capabilities');
const { runTool } = require('@warden/workers-service/run-tool');
const { ToolRegistry } = require('@warden/workers-service/tool-registry');
const { defaultToolSettings } = require('@warden/workers-service/tool');

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const N = arg('n', 2000);
const REUSE = arg('reuse', 100);
const pct = (xs, p) => xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const ms = (ns) => Number(ns) / 1e6;

async function main() {
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'warden-bench-ws-')));
  fs.writeFileSync(path.join(root, 'a.md'), 'x'.repeat(1024));
  // the sandbox runs as its own unprivileged user (WORKER_SANDBOX_USER): it must be able to read the workspace
  fs.chmodSync(root, 0o755);
  const action = { tool: 'fs.read_file', args: { path: 'a.md' } };
  const settings = defaultToolSettings();
  const registry = new ToolRegistry().forRole('research');
  const plan = planSandbox({ memoryMb: 2048, cpuSeconds: 300, nproc: 512, fsizeMb: 64 });
  const env = { PATH: '/usr/local/bin:/usr/bin:/bin', LANG: 'C.UTF-8', HOME: '/nonexistent', NODE_ENV: 'production' };
  const req = { action, tools: ['fs.*'], root, constraints: {}, settings, timeoutMs: 10_000 };
  const spec = { idempotent: true, spawns: false };

  // in-process
  const inline = [];
  for (let i = 0; i < N; i++) {
    const t0 = process.hrtime.bigint();
    const r = await runTool(registry, action, { root, settings });
    if (r.error) throw new Error(JSON.stringify(r.error));
    inline.push(ms(process.hrtime.bigint() - t0));
  }

  // isolated, sequential: per-execution latency including the amortised spawns
  const pool = new SandboxPool({ prefix: plan.withoutNetwork, warm: 2, reuse: REUSE, env });
  await pool.warmUp();
  const isolated = [];
  for (let i = 0; i < N; i++) {
    const t0 = process.hrtime.bigint();
    const r = await pool.execute(req, spec);
    if (r.error) throw new Error(JSON.stringify(r.error));
    isolated.push(ms(process.hrtime.bigint() - t0));
  }
  await pool.close();

  // a fresh process for every execution (reuse 1), warm pool of 4
  const freshPool = new SandboxPool({ prefix: plan.withoutNetwork, warm: 4, reuse: 1, env });
  await freshPool.warmUp();
  const fresh = [];
  const freshN = Math.min(200, N);
  for (let i = 0; i < freshN; i++) {
    const t0 = process.hrtime.bigint();
    await freshPool.execute(req, spec);
    fresh.push(ms(process.hrtime.bigint() - t0));
  }
  const freshStart = Date.now();
  await freshPool.close();
  void freshStart;

  // throughput: pools = worker processes, 8 concurrent executions each (WORKER_CONCURRENCY)
  async function throughput(pools, seconds = 5) {
    const ps = [];
    for (let i = 0; i < pools; i++) {
      const p = new SandboxPool({ prefix: plan.withoutNetwork, warm: 8, reuse: REUSE, env });
      await p.warmUp();
      ps.push(p);
    }
    let done = 0;
    const end = Date.now() + seconds * 1000;
    await Promise.all(
      ps.flatMap((p) =>
        Array.from({ length: 8 }, async () => {
          while (Date.now() < end) {
            await p.execute(req, spec);
            done++;
          }
        }),
      ),
    );
    await Promise.all(ps.map((p) => p.close()));
    return done / seconds;
  }
  const one = await throughput(1);
  const two = await throughput(2);

  const result = {
    at: new Date().toISOString(),
    host: { cpus: os.cpus().length, node: process.version },
    sandbox: { enforced: plan.enforced, warnings: plan.warnings, reuse: REUSE },
    n: N,
    inline_ms: { p50: pct(inline, 50), p99: pct(inline, 99) },
    isolated_ms: { p50: pct(isolated, 50), p99: pct(isolated, 99) },
    overhead_ms: { p50: pct(isolated, 50) - pct(inline, 50), p99: pct(isolated, 99) - pct(inline, 99) },
    fresh_process_each_ms: { n: freshN, p50: pct(fresh, 50), p99: pct(fresh, 99) },
    isolated_executions_per_s: { one_worker: Math.round(one), two_workers: Math.round(two) },
    targets: { overhead_p99_ms: 30, two_workers_per_s: 200 },
  };
  const rows = [
    ['fs.read_file in-process', result.inline_ms.p50, result.inline_ms.p99],
    [`sandboxed (reuse ${REUSE})`, result.isolated_ms.p50, result.isolated_ms.p99],
    ['isolation overhead', result.overhead_ms.p50, result.overhead_ms.p99],
    ['fresh process per execution', result.fresh_process_each_ms.p50, result.fresh_process_each_ms.p99],
  ];
  console.log('| scenario | p50 ms | p99 ms |\n|---|---|---|');
  for (const [n, a, b] of rows) console.log(`| ${n} | ${a.toFixed(2)} | ${b.toFixed(2)} |`);
  console.log(`\nisolated executions/s: one worker ${Math.round(one)}, two workers ${Math.round(two)}`);
  for (const w of plan.warnings) console.log(`warning: ${w}`);
  lib.writeResults('workers', result);
  fs.rmSync(root, { recursive: true, force: true });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
