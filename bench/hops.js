#!/usr/bin/env node
/*
 * Where an unloaded run's time goes: publishes `fs.read_file` proposals one at a time (like e2e's unloaded
 * point) and records when each message of the run arrives on a plain NATS subscription to the whole
 * prefix (events, commands, results). Prints the median time from the publish to each message, and the
 * median gap between consecutive messages, so each hop (a service's consume → decide → commit → publish)
 * has its own figure.
 *
 *   node bench/hops.js [--n 200] [--rate 0] [--base-port 17901]
 *     --rate R   publish R per s open loop instead of one at a time (the hops under load)
 *   BENCH_COUNT=1   also count, per run and service, Ed25519 checks and signatures, socket writes by
 *                   destination and thread-pool requests (bench/count-preload.js; slows the services a little)
 *   BENCH_PERF=<dir>  also sample the services, their sandboxes, nats-server and this run's Postgres
 *                   backends on-CPU with `perf record -e cpu-clock` over the measured runs, and print
 *                   each one's CPU per run by what it did: user code, V8 compiling, GC, crypto, kernel
 *                   (bench/perf-record.js; needs Linux perf; the services run with --perf-basic-prof)
 *   BENCH_NODE_ARGS='…'  more node flags for the services
 *
 * Also prints the CPU per run of each service, its sandboxes, nats-server and this run's Postgres
 * backends over the measured runs (the unloaded split, over more runs than e2e's unloaded point).
 *
 * Starts the five services (built dist) on its own prefix and database; writes bench/results/hops.json.
 */
'use strict';
const { randomBytes, randomUUID } = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { connect } = require('@nats-io/transport-node');
const { jetstream } = require('@nats-io/jetstream');
const lib = require('./lib');
const { CpuSampler, descendants, cmdline, pidListeningOn } = require('./proc-cpu');
const perfRecord = require('./perf-record');
const { NATS_URL, PG, REDIS_URL, sleep, percentile, round } = lib;
/** The servers' ports, as the services reach them. */
const PORTS = {
  nats: Number(new URL(NATS_URL.split(',')[0]).port || 4222),
  postgres: Number(new URL(PG).port || 5432),
  redis: Number(new URL(REDIS_URL).port || 6379),
};

const args = lib.parseArgs();
const N = Number(args.n ?? 200);
const RATE = Number(args.rate ?? 0);
const BASE_PORT = Number(args['base-port'] ?? 17901);
const PERF_DIR = process.env.BENCH_PERF ? path.resolve(process.env.BENCH_PERF) : undefined;
const SERVICES = ['ingest', 'policy', 'orchestrator', 'approvals', 'workers'];
const run = lib.privateRun('hops');
let procs = [];

/** The subject with its run id (and any prefix) replaced: `events.run.*.run_started`. */
function shape(subject, runId) {
  return subject
    .slice(run.prefix.length + 1)
    .split('.')
    .map((t) => (t === runId ? '*' : t))
    .join('.');
}

async function main() {
  lib.requireBuilt(...SERVICES);
  const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-hops-'));
  fs.writeFileSync(path.join(workspace, 'bench.txt'), 'hello from the benchmark\n');
  const countDir = process.env.BENCH_COUNT ? fs.mkdtempSync(path.join(os.tmpdir(), 'warden-hops-count-')) : undefined;
  procs = await lib.startServicesWarn(SERVICES, {
    env: lib.serviceEnv(run, randomBytes(24).toString('hex'), {
      WARDEN_WORKSPACE: workspace,
      ...(countDir ? { BENCH_COUNT_DIR: countDir } : {}),
    }),
    basePort: BASE_PORT,
    // BENCH_CPU_PROF=<dir>: a .cpuprofile per service (bench/profile-summary.js <dir>)
    nodeArgs: [
      ...(process.env.BENCH_CPU_PROF
        ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(process.env.BENCH_CPU_PROF)}`]
        : []),
      ...(countDir ? ['--require', path.join(__dirname, 'count-preload.js')] : []),
      // BENCH_PERF: JIT frames named for perf (bench/perf-record.js)
      ...(PERF_DIR ? ['--perf-basic-prof'] : []),
      ...(process.env.BENCH_NODE_ARGS ? process.env.BENCH_NODE_ARGS.split(' ') : []),
    ],
  });
  const nc = await connect({ servers: NATS_URL, name: 'warden-hops' });
  const js = jetstream(nc, { timeout: 10_000 });
  const runs = new Map(); // id -> { t0, seen: Map<shape, ms>, done }
  const sub = nc.subscribe(`${run.prefix}.>`);
  (async () => {
    for await (const m of sub) {
      const at = performance.now();
      for (const [id, r] of runs) {
        if (!m.subject.includes(id) && !(m.headers?.get('Nats-Msg-Id') ?? '').includes(id)) continue;
        const s = shape(m.subject, id);
        if (!r.seen.has(s)) r.seen.set(s, at - r.t0);
        if (/run_(succeeded|failed|denied)$/.test(m.subject)) r.done?.();
      }
    }
  })();
  await nc.flush();

  const publish = (measured) => {
    const id = randomUUID();
    const r = { t0: performance.now(), seen: new Map(), measured };
    const done = new Promise((resolve) => (r.done = resolve));
    runs.set(id, r);
    void js.publish(
      `${run.prefix}.ingest.tasks`,
      JSON.stringify({
        run_id: id,
        agent: { id: `hops-${runs.size % 20}`, role: 'research' },
        action: { tool: 'fs.read_file', args: { path: 'bench.txt' } },
      }),
      { msgID: id },
    );
    return Promise.race([done, sleep(30_000)]).then(() => {
      if (!measured) runs.delete(id);
    });
  };
  for (let i = 0; i < 50; i++) await publish(false); // warm-up
  const sampler = cpuSampler(procs);
  const countsBefore = countDir ? await countSnapshot(procs, countDir) : undefined;
  const perf = PERF_DIR ? await perfRecord.start(PERF_DIR, sampler.pids()) : undefined;
  const cpuBefore = sampler.sample();
  const t = performance.now();
  if (RATE > 0) {
    const all = [];
    for (let i = 0; i < N; i++) {
      all.push(publish(true));
      await sleep(1000 / RATE);
    }
    await Promise.all(all);
  } else for (let i = 0; i < N; i++) await publish(true);
  const wallMs = performance.now() - t;
  const cpu = CpuSampler.diff(cpuBefore, sampler.sample());
  await perf?.stop();
  const countsAfter = countDir ? await countSnapshot(procs, countDir) : undefined;
  await sleep(500);
  sub.unsubscribe();

  // median arrival per message shape, in the order of those medians
  const byShape = new Map();
  for (const r of runs.values()) for (const [s, ms] of r.seen) byShape.set(s, [...(byShape.get(s) ?? []), ms]);
  const rows = [...byShape]
    .map(([s, list]) => ({
      message: s,
      n: list.length,
      p50: percentile(
        list.sort((a, b) => a - b),
        50,
      ),
      p99: percentile(list, 99),
    }))
    .filter((r) => r.n >= N / 2)
    .sort((a, b) => a.p50 - b.p50);
  let prev = 0;
  const table = rows.map((r) => {
    const row = {
      message: r.message,
      seen: r.n,
      'p50 since publish (ms)': round(r.p50),
      'p99 since publish (ms)': round(r.p99),
      'gap (ms)': round(r.p50 - prev),
    };
    prev = r.p50;
    return row;
  });
  console.log(`\nhops: ${N} runs ${RATE ? `at ${RATE}/s` : 'one at a time'} in ${(wallMs / 1000).toFixed(1)} s`);
  console.table(table);
  const cpuPerRun = Object.fromEntries(Object.entries(cpu.cpu_ms).map(([k, ms]) => [k, round(ms / N, 2)]));
  cpuPerRun.total = round(Object.values(cpu.cpu_ms).reduce((a, b) => a + b, 0) / N, 2);
  console.log(
    'CPU ms per run:',
    Object.entries(cpuPerRun)
      .map(([k, v]) => `${k} ${v}`)
      .join(', '),
  );
  const countsPerRun = countsAfter ? perRun(countsBefore, countsAfter, N) : undefined;
  if (countsPerRun) {
    console.log('\nper run, counted in each service (bench/count-preload.js):');
    console.table(countsPerRun);
  }
  const perfPerRun = perf ? perfRecord.summarise(perf, N) : undefined;
  if (perfPerRun) {
    console.log(`\non-CPU ms per run, sampled by perf (bench/perf-record.js; ${perf.file}):`);
    console.table(perfPerRun);
  }
  // BENCH_METRICS=<regex>: print the services' /metrics lines matching it (batch sizes and times per consumer)
  if (process.env.BENCH_METRICS) {
    const re = new RegExp(process.env.BENCH_METRICS);
    for (const p of procs) {
      const text = await (await fetch(`${p.url}/metrics`)).text();
      for (const line of text.split('\n'))
        if (re.test(line) && !line.startsWith('#')) console.log(`[${p.name}] ${line}`);
    }
  }
  console.log(
    `wrote ${lib.writeResults(RATE ? `hops-${RATE}` : 'hops', { at: new Date().toISOString(), n: N, rate: RATE, table, cpu_ms_per_run: cpuPerRun, ...(countsPerRun ? { counts_per_run: countsPerRun } : {}), ...(perfPerRun ? { perf_ms_per_run: perfPerRun } : {}) })}`,
  );
  await nc.drain();
}

/** Each service's counts so far (SIGUSR2 makes bench/count-preload.js write them), by service name. */
async function countSnapshot(started, dir) {
  for (const f of fs.readdirSync(dir)) fs.rmSync(path.join(dir, f));
  for (const p of started) p.child.kill('SIGUSR2');
  const deadline = Date.now() + 5000;
  const out = {};
  for (const p of started) {
    const file = path.join(dir, `${p.child.pid}.json`);
    while (!fs.existsSync(file)) {
      if (Date.now() > deadline) throw new Error(`${p.name} wrote no counts (is bench/count-preload.js loaded?)`);
      await sleep(20);
    }
    // written in one synchronous call, but it may still be mid-write when first seen
    await sleep(20);
    out[p.name] = JSON.parse(fs.readFileSync(file, 'utf8'));
  }
  return out;
}

/** Per run over the measured runs: signature checks and signatures, writes by destination, thread-pool requests. */
function perRun(before, after, n) {
  const names = Object.fromEntries(Object.entries(PORTS).map(([name, port]) => [String(port), name]));
  const per = (a, b) => round(((a ?? 0) - (b ?? 0)) / n, 2);
  return Object.fromEntries(
    Object.keys(after).map((svc) => {
      const a = after[svc];
      const b = before[svc];
      const writes = {};
      for (const [to, count] of Object.entries(a.writes)) {
        const name = names[to] ?? (to === 'pipe' ? 'pipe' : 'other');
        writes[name] = (writes[name] ?? 0) + count - (b.writes[to] ?? 0);
      }
      const pool = Object.entries(a.threadPool).reduce((sum, [t, c]) => sum + c - (b.threadPool[t] ?? 0), 0);
      return [
        svc,
        {
          'ed25519 verify': per(a.verify, b.verify),
          'ed25519 sign': per(a.sign, b.sign),
          'writes to nats': round((writes.nats ?? 0) / n, 2),
          'writes to postgres': round((writes.postgres ?? 0) / n, 2),
          'writes to redis': round((writes.redis ?? 0) / n, 2),
          'other writes': round(((writes.other ?? 0) + (writes.pipe ?? 0)) / n, 2),
          'thread-pool requests': round(pool / n, 2),
        },
      ];
    }),
  );
}

/** The services (each; the workers' sandboxes apart), nats-server and this run's Postgres backends. */
function cpuSampler(started) {
  const natsPid = pidListeningOn(PORTS.nats);
  const pgPid = pidListeningOn(PORTS.postgres);
  const byPid = Object.fromEntries(started.map((p) => [p.name, p.child.pid]));
  const backends = (all) =>
    pgPid
      ? descendants(pgPid, all).filter(
          (pid) => all.get(pid)?.ppid === pgPid && cmdline(pid).split(' ').includes(run.dbName),
        )
      : [];
  return new CpuSampler(
    {
      ...Object.fromEntries(SERVICES.map((s) => [s, () => [byPid[s]]])),
      'workers sandboxes': (all) => descendants(byPid.workers, all),
      'nats-server': () => (natsPid ? [natsPid] : []),
      'postgres (this db)': backends,
    },
    new Set([process.pid, ...(pgPid ? [pgPid] : [])]),
  );
}

lib.runMain(main, { procs: () => procs, run });
