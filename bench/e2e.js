#!/usr/bin/env node
/*
 * End-to-end benchmark: fs.read_file proposals published to the ingest subject, measured from publish
 * to the run_succeeded event. Starts the five services (built dist) as child processes on its own
 * subject prefix and database, so it never touches a running system.
 *
 *   npm run bench [-- --duration 20 --rates 100,300,1000 --closed-concurrency 400]
 *
 * Writes bench/results/e2e.json and prints a table.
 */
'use strict';
const { randomBytes, randomUUID } = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { connect } = require('@nats-io/transport-node');
const { jetstream } = require('@nats-io/jetstream');
const lib = require('./lib');
const { NATS_URL, sleep, percentile, round } = lib;

const args = lib.parseArgs();
const DURATION_S = Number(args.duration ?? 20);
const RATES = String(args.rates ?? '100,300,1000')
  .split(',')
  .map(Number);
const CLOSED_CONCURRENCY = Number(args['closed-concurrency'] ?? 400);
const run = lib.privateRun('bench');
const { prefix } = run;
const SERVICES = ['ingest', 'policy', 'orchestrator', 'approvals', 'workers'];

/** The five services; BENCH_CPU_PROF=<dir>: a .cpuprofile per service; BENCH_NODE_ARGS: any other node flags. */
function startServices(env) {
  const nodeArgs = [
    ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []),
    ...(process.env.BENCH_NODE_ARGS ? process.env.BENCH_NODE_ARGS.split(' ') : []),
  ];
  return lib.startServices(SERVICES, {
    env,
    basePort: 17801,
    nodeArgs,
    logFilter: /ERROR|WARN/,
    readyTimeoutMs: 30_000,
  });
}

async function main() {
  lib.requireBuilt(...SERVICES);
  const workspace = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'warden-bench-'));
  fs.writeFileSync(path.join(workspace, 'bench.txt'), 'hello from the benchmark\n');
  const env = {
    ...process.env,
    WARDEN_SUBJECT_PREFIX: prefix,
    DATABASE_URL: run.databaseUrl,
    WARDEN_KEYRING_SEED: randomBytes(32).toString('base64'),
    WARDEN_WORKSPACE: workspace,
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'error',
  };
  const procs = await startServices(env);
  const nc = await connect({ servers: NATS_URL, name: 'warden-bench' });
  const js = jetstream(nc, { timeout: 10_000 });
  const pending = new Map(); // run_id -> publish time (performance.now())
  const waiters = new Map(); // run_id -> resolve, for the closed loop
  const latencies = [];
  let completed = 0;
  let lastCompletionAt = 0;
  const sub = nc.subscribe(`${prefix}.events.run.*.run_succeeded`);
  const failedSub = nc.subscribe(`${prefix}.events.run.*.run_failed`);
  let failed = 0;
  (async () => {
    for await (const m of sub) {
      const runId = m.subject.split('.')[3];
      const t0 = pending.get(runId);
      if (t0 !== undefined) {
        pending.delete(runId);
        latencies.push(performance.now() - t0);
        completed++;
        lastCompletionAt = performance.now();
      }
      waiters.get(runId)?.();
    }
  })();
  (async () => {
    for await (const m of failedSub) {
      const runId = m.subject.split('.')[3];
      if (pending.delete(runId)) failed++;
      waiters.get(runId)?.();
    }
  })();

  let seq = 0;
  const publishOne = () => {
    const runId = randomUUID();
    seq++;
    const body = JSON.stringify({
      run_id: runId,
      agent: { id: `bench-${seq % 50}`, role: 'research' },
      action: { tool: 'fs.read_file', args: { path: 'bench.txt' } },
    });
    pending.set(runId, performance.now());
    js.publish(`${prefix}.ingest.tasks`, body, { msgID: runId }).catch((err) => {
      pending.delete(runId);
      waiters.get(runId)?.();
      publishErrors++;
      if (publishErrors < 5) console.error('publish failed:', err.message);
    });
    return runId;
  };
  let publishErrors = 0;

  // warm-up: JIT, connection pools, consumers
  for (let i = 0; i < 200; i++) publishOne();
  await waitDrained(pending, 30_000);
  latencies.length = 0;
  completed = 0;
  failed = 0;

  const results = [];
  for (const rate of RATES) {
    const r = await openLoop(rate);
    results.push(r);
    printRow(r);
  }
  results.push(await closedLoop());
  printRow(results[results.length - 1]);

  async function openLoop(rate) {
    latencies.length = 0;
    const before = completed;
    const tickMs = 10;
    const start = performance.now();
    let sent = 0;
    while (performance.now() - start < DURATION_S * 1000) {
      const due = Math.floor(((performance.now() - start) / 1000) * rate);
      while (sent < due) {
        void publishOne();
        sent++;
      }
      await sleep(tickMs);
    }
    const lost = await waitDrained(pending, 60_000);
    const lat = [...latencies].sort((a, b) => a - b);
    const done = completed - before;
    // sustained throughput: every completion over the time from the first publish to the last
    // completion, so a backlog that drains after the window lowers it
    return summary(`open ${rate}/s`, sent, done, lost, lat, (done / (lastCompletionAt - start)) * 1000);
  }

  async function closedLoop() {
    latencies.length = 0;
    const before = completed;
    const start = performance.now();
    let sent = 0;
    let stop = false;
    // each worker keeps one run outstanding: publish, wait for its terminal event, repeat
    const worker = async () => {
      while (!stop) {
        let resolve;
        const done = new Promise((r) => (resolve = r));
        const runId = publishOne();
        waiters.set(runId, resolve);
        sent++;
        await Promise.race([done, sleep(30_000)]);
        waiters.delete(runId);
      }
    };
    const workers = Array.from({ length: CLOSED_CONCURRENCY }, worker);
    await sleep(DURATION_S * 1000);
    stop = true;
    await Promise.all(workers);
    const elapsed = performance.now() - start;
    const lost = await waitDrained(pending, 60_000);
    const lat = [...latencies].sort((a, b) => a - b);
    return summary(
      `closed x${CLOSED_CONCURRENCY}`,
      sent,
      completed - before,
      lost,
      lat,
      ((completed - before) / elapsed) * 1000,
    );
  }

  function summary(name, sent, done, lost, lat, throughput) {
    return {
      scenario: name,
      sent,
      succeeded: done,
      failed,
      lost,
      runs_per_s: Math.round(throughput),
      p50_ms: round(percentile(lat, 50)),
      p95_ms: round(percentile(lat, 95)),
      p99_ms: round(percentile(lat, 99)),
      max_ms: round(lat[lat.length - 1] ?? null),
    };
  }

  if (args.metrics) await dumpMetrics(procs);
  const out = {
    at: new Date().toISOString(),
    machine: { cpus: require('node:os').cpus().length, node: process.version },
    duration_s: DURATION_S,
    results,
    publish_errors: publishErrors,
  };
  console.log(`\nwrote ${lib.writeResults('e2e', out)}`);

  sub.unsubscribe();
  failedSub.unsubscribe();
  await nc.drain();
  for (const p of procs) p.child.kill('SIGTERM');
  await sleep(1500);
  await lib.cleanup(run);
}

/** With --metrics 1: per-consumer handler and projection batch times, to find the slow hop. */
async function dumpMetrics(procs) {
  for (const p of procs) {
    const text = await (await fetch(`http://127.0.0.1:${p.port}/metrics`)).text();
    const sums = {};
    for (const line of text.split('\n')) {
      const m =
        /^(warden_(?:bus_handle_seconds|bus_batch_seconds|bus_batch_size|projection_batch_seconds))_(sum|count)\{([^}]*)\} ([0-9.e+-]+)/.exec(
          line,
        );
      if (!m) continue;
      const key = `${m[1]} ${m[3].replace(/,?service="[^"]*"/, '')}`;
      sums[key] = { ...(sums[key] ?? {}), [m[2]]: Number(m[4]) };
    }
    for (const [k, v] of Object.entries(sums)) {
      const avg = k.includes('batch_size')
        ? (v.sum / v.count).toFixed(1)
        : `${((v.sum / v.count) * 1000).toFixed(2)}ms`;
      console.log(`${p.name.padEnd(13)} ${k.padEnd(80)} n=${v.count} avg=${avg}`);
    }
  }
}

async function waitDrained(pending, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (pending.size > 0 && Date.now() < deadline) await sleep(50);
  const lost = pending.size;
  pending.clear();
  return lost;
}

let headerPrinted = false;
function printRow(r) {
  const cols = ['scenario', 'sent', 'succeeded', 'lost', 'runs_per_s', 'p50_ms', 'p95_ms', 'p99_ms', 'max_ms'];
  if (!headerPrinted) {
    console.log(cols.map((c) => c.padStart(c === 'scenario' ? 16 : 10)).join(' '));
    headerPrinted = true;
  }
  console.log(cols.map((c) => String(r[c] ?? '-').padStart(c === 'scenario' ? 16 : 10)).join(' '));
}

main().catch(async (err) => {
  console.error(`bench failed: ${err.stack ?? err.message}`);
  await lib.cleanup(run);
  process.exit(1);
});
