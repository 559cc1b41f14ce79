#!/usr/bin/env node
/*
 * End-to-end benchmark, self-calibrating: fs.read_file proposals published to the ingest subject,
 * measured from publish to the run_succeeded event, beside a bare reference chain on the same NATS and
 * Postgres in the same run (bench/ref-chain.js: JetStream publish -> pull consume -> publish -> pull
 * consume -> batched Postgres commit, no Warden code). Warden is reported as ratios to the reference.
 *
 * Each repetition measures, for Warden and then the reference:
 *   unloaded      one proposal in flight at a time, --unloaded N sequential
 *   max           closed loop, --closed-concurrency outstanding (each its own maximum), over --duration
 *                 once the pipeline is full (as many runs ended as are kept in flight)
 *   20/50/80 %    open loop at 20, 50 and 80 % of Warden's maximum of this repetition (both systems at
 *                 the same offered rate), plus any --rates (absolute, per s)
 * and counts loss (no terminal event within --drain-timeout s) and duplicate execution (a second
 * run_started or run_succeeded for one run id) at every point, and the CPU per completed run of every
 * process (bench/proc-cpu.js). The table shows the median of --repeat repetitions; every ratio is taken
 * within one repetition, then the median of those ratios is shown.
 *
 *   node bench/e2e.js [--quick] [--repeat 3] [--duration 6] [--unloaded 200] [--rates 200]
 *                     [--closed-concurrency 400] [--drain-timeout 30] [--base-port 17801] [--metrics 1]
 *   BENCH_CPU_PROF=<dir>   a .cpuprofile per service (<service>.<pid>.cpuprofile); bench/profile-summary.js <dir>
 *
 * Starts the five services (built dist) as child processes on its own subject prefix and database, so
 * it never touches a running system. Writes bench/results/e2e.json and prints the tables.
 */
'use strict';
const { fork } = require('node:child_process');
const { randomBytes, randomUUID } = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { connect } = require('@nats-io/transport-node');
const { jetstream } = require('@nats-io/jetstream');
const lib = require('./lib');
const { CpuSampler, descendants, cmdline, pidListeningOn } = require('./proc-cpu');
const { NATS_URL, PG, sleep, percentile, round } = lib;

const args = lib.parseArgs();
const QUICK = 'quick' in args;
const REPEAT = Number(args.repeat ?? (QUICK ? 1 : 3));
const DURATION_S = Number(args.duration ?? (QUICK ? 4 : 6));
const UNLOADED_N = Number(args.unloaded ?? (QUICK ? 50 : 200));
const FRACTIONS = [0.2, 0.5, 0.8];
const EXTRA_RATES = String(args.rates ?? (QUICK ? '' : '200'))
  .split(',')
  .filter(Boolean)
  .map(Number);
const CLOSED_CONCURRENCY = Number(args['closed-concurrency'] ?? 400);
const DRAIN_MS = Number(args['drain-timeout'] ?? 30) * 1000;
/** The closed loop's longest wait for its pipeline to fill before the window opens anyway. */
const FILL_CAP_MS = 60_000;
const OTHER = 'other (not counted above)';
/** The CPU groups (bench/proc-cpu.js) that belong to each system's points. */
const SHOWN = {
  warden: [
    'ingest',
    'policy',
    'orchestrator',
    'approvals',
    'workers',
    'workers sandboxes',
    'nats-server',
    'postgres (warden db)',
  ],
  reference: ['reference chain', 'nats-server', 'postgres (reference db)'],
};
for (const k of Object.keys(SHOWN)) SHOWN[k].push('postgres (aux)', 'load generator');
const SETTLE_MS = 1000; // after a point drains: lingering read-model batches land in its CPU, not the next point's
const run = lib.privateRun('bench');
const { prefix } = run;
const refPrefix = `${prefix}ref`;
const refDbName = `${run.dbName}_ref`;
const BASE_PORT = Number(args['base-port'] ?? 17801); // service i listens on BASE_PORT + i
const SERVICES = ['ingest', 'policy', 'orchestrator', 'approvals', 'workers'];
const ADMIN_TOKEN = randomBytes(24).toString('hex'); // to ask the orchestrator where lost runs stopped
const running = { procs: [], ref: null }; // stopped on the way out when the benchmark fails
const PROF_DIR = process.env.BENCH_CPU_PROF ? path.resolve(process.env.BENCH_CPU_PROF) : undefined;

/** BENCH_CPU_PROF=<dir>: --cpu-prof into it; BENCH_NODE_ARGS: any other node flags. */
const nodeArgs = [
  ...(PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROF_DIR}`] : []),
  ...(process.env.BENCH_NODE_ARGS ? process.env.BENCH_NODE_ARGS.split(' ') : []),
];

/**
 * One system under load: publishes proposals and follows each run to its terminal event. `runs` keeps
 * every run id of the whole benchmark (so a duplicate arriving after its point ended is still charged
 * to the point that published it).
 */
class System {
  constructor(name, publish) {
    this.name = name;
    this.publishRaw = publish;
    this.runs = new Map(); // id -> { t0, point, started, startedId, succeeded, succeededId, terminal }
    this.open = new Map(); // id -> run, not yet terminal
    this.waiters = new Map(); // id -> resolve
    this.point = newPoint();
    this.publishErrors = 0;
    this.seq = 0;
  }

  publishOne() {
    const id = randomUUID();
    this.seq++;
    const body = JSON.stringify({
      run_id: id,
      agent: { id: `bench-${this.seq % 50}`, role: 'research' },
      action: { tool: 'fs.read_file', args: { path: 'bench.txt' } },
    });
    const r = { t0: performance.now(), point: this.point, started: 0, succeeded: 0, terminal: false };
    this.runs.set(id, r);
    this.open.set(id, r);
    this.point.sent++;
    this.publishRaw(id, body).catch((err) => {
      this.publishErrors++;
      r.point.publishErrors++;
      if (this.publishErrors < 5) console.error(`${this.name}: publish failed: ${err.message}`);
      this.end(id, r);
    });
    return id;
  }

  started(id, msgId) {
    const r = this.runs.get(id);
    if (!r) return;
    if (r.started++ === 0) r.startedId = msgId;
    else if (msgId && msgId === r.startedId) r.point.republished++;
    else r.point.duplicates++;
  }

  succeeded(id, msgId) {
    const r = this.runs.get(id);
    if (!r) return;
    if (r.succeeded++ > 0) {
      if (msgId && msgId === r.succeededId) r.point.republished++;
      else r.point.duplicates++;
      return;
    }
    r.succeededId = msgId;
    if (r.terminal) return;
    const now = performance.now();
    r.point.latencies.push(now - r.t0);
    r.point.succeeded++;
    r.point.lastCompletionAt = now;
    this.end(id, r);
  }

  failed(id) {
    const r = this.runs.get(id);
    if (!r || r.terminal) return;
    r.point.failed++;
    this.end(id, r);
  }

  end(id, r) {
    r.terminal = true;
    this.open.delete(id);
    this.waiters.get(id)?.();
  }

  /** Waits for every open run (up to DRAIN_MS); what is left is lost. */
  async drain() {
    const deadline = Date.now() + DRAIN_MS;
    while (this.open.size > 0 && Date.now() < deadline) await sleep(20);
    for (const [id, r] of this.open) {
      if (r.point.lost++ < 50) r.point.lostIds.push(id);
      this.waiters.get(id)?.(); // a closed-loop worker waiting for it stops now
    }
    this.open.clear();
  }

  /** Resolves when run `id` ends (or after DRAIN_MS). */
  waitFor(id) {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, DRAIN_MS);
      this.waiters.set(id, () => {
        clearTimeout(t);
        this.waiters.delete(id);
        resolve();
      });
      if (!this.open.has(id)) this.waiters.get(id)();
    });
  }
}

function newPoint() {
  return {
    sent: 0,
    succeeded: 0,
    failed: 0,
    lost: 0,
    duplicates: 0,
    republished: 0,
    publishErrors: 0,
    latencies: [],
    lastCompletionAt: 0,
    lostIds: [],
  };
}

async function main() {
  lib.requireBuilt(...SERVICES);
  if (PROF_DIR) fs.mkdirSync(PROF_DIR, { recursive: true });
  const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-bench-'));
  fs.writeFileSync(path.join(workspace, 'bench.txt'), 'hello from the benchmark\n');
  const env = {
    ...process.env,
    WARDEN_SUBJECT_PREFIX: prefix,
    DATABASE_URL: run.databaseUrl,
    WARDEN_KEYRING_SEED: randomBytes(32).toString('base64'),
    WARDEN_WORKSPACE: workspace,
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'error',
    WARDEN_BOOTSTRAP_ADMIN_TOKEN: ADMIN_TOKEN,
  };
  const startedAt = Date.now();
  // a service left over on one of our ports would answer our readiness checks: refuse to start
  for (let port = BASE_PORT; port < BASE_PORT + SERVICES.length; port++) {
    const pid = pidListeningOn(port);
    if (pid) throw new Error(`port ${port} is in use by pid ${pid} (${cmdline(pid).slice(0, 120)})`);
  }
  const procs = await lib.startServices(SERVICES, {
    env,
    basePort: BASE_PORT,
    nodeArgs,
    logFilter: /ERROR|WARN/,
    readyTimeoutMs: 30_000,
  });
  running.procs = procs;
  const ref = await startReference();
  running.ref = ref;
  const nc = await connect({ servers: NATS_URL, name: 'warden-bench' });
  const js = jetstream(nc, { timeout: 10_000 });

  const warden = new System('warden', (id, body) => js.publish(`${prefix}.ingest.tasks`, body, { msgID: id }));
  const reference = new System('reference', (id, body) => js.publish(`${refPrefix}.a.${id}`, body, { msgID: id }));
  const subs = [];
  const follow = (subject, token, fn) => {
    const sub = nc.subscribe(subject);
    subs.push(sub);
    (async () => {
      for await (const m of sub) fn(m.subject.split('.')[token], m.headers?.get('Nats-Msg-Id'));
    })();
  };
  follow(`${prefix}.events.run.*.run_started`, 3, (id, msgId) => warden.started(id, msgId));
  follow(`${prefix}.events.run.*.run_succeeded`, 3, (id, msgId) => warden.succeeded(id, msgId));
  for (const t of ['run_failed', 'run_denied', 'run_cancelled', 'command_refused', 'approval_requested'])
    follow(`${prefix}.events.run.*.${t}`, 3, (id) => warden.failed(id));
  follow(`${prefix}.events.rejected.*.task_rejected`, 3, (id) => warden.failed(id));
  follow(`${refPrefix}.done.*`, 2, (id) => reference.succeeded(id));
  await nc.flush();

  const sampler = cpuSampler(procs, ref.child.pid);

  // warm-up: JIT, connection pools, consumers, sandboxes
  for (let i = 0; i < 200; i++) warden.publishOne();
  for (let i = 0; i < 500; i++) reference.publishOne();
  await warden.drain();
  await reference.drain();
  await sleep(SETTLE_MS);
  console.log(
    `e2e: ${REPEAT} repetition(s), ${DURATION_S} s per loaded point, unloaded ${UNLOADED_N} sequential, ` +
      `closed loop x${CLOSED_CONCURRENCY} (ready after ${((Date.now() - startedAt) / 1000).toFixed(0)} s)`,
  );

  /** Runs `drive` as one point of `sys`: CPU sampled around it, drained, summarised. */
  async function measure(sys, label, offered, drive) {
    const point = newPoint();
    sys.point = point;
    const before = sampler.sample();
    const start = performance.now();
    const window = await drive();
    await sys.drain();
    await sleep(SETTLE_MS);
    const cpu = CpuSampler.diff(before, sampler.sample());
    if (point.lost && sys === warden) await diagnoseLost(procs, point.lostIds);
    const lat = point.latencies.sort((a, b) => a - b);
    const done = point.succeeded;
    // open loop: every completion over the time from the first publish to the last completion, so
    // a backlog that drains after the window lowers it; closed loop and unloaded: over the window
    const runsPerS = window
      ? (window.done / window.ms) * 1000
      : (done / Math.max(1, point.lastCompletionAt - start)) * 1000;
    const perRun = {};
    let counted = 0;
    for (const [name, ms] of Object.entries(cpu.cpu_ms)) {
      if (name === 'postgres (other databases)') continue;
      counted += ms;
      perRun[name] = done ? ms / done : null;
    }
    perRun[OTHER] = done ? Math.max(0, cpu.machine_busy_ms - counted) / done : null;
    const row = {
      system: sys.name,
      point: label,
      offered_per_s: offered,
      sent: point.sent,
      succeeded: done,
      failed: point.failed,
      lost: point.lost,
      duplicates: point.duplicates,
      republished: point.republished,
      publish_errors: point.publishErrors,
      runs_per_s: Math.round(runsPerS),
      // closed loop: how long the pipeline took to fill before the window opened
      ...(window?.fillMs !== undefined ? { fill_ms: Math.round(window.fillMs) } : {}),
      p50_ms: round(percentile(lat, 50)),
      p95_ms: round(percentile(lat, 95)),
      p99_ms: round(percentile(lat, 99)),
      max_ms: round(lat[lat.length - 1] ?? null),
      machine_busy_pct: Math.round((cpu.machine_busy_ms / cpu.wall_ms / os.cpus().length) * 100),
      cpu_ms_per_run: Object.fromEntries(Object.entries(perRun).map(([k, v]) => [k, round2(v)])),
      cpu_ms: Object.fromEntries(Object.entries(cpu.cpu_ms).map(([k, v]) => [k, Math.round(v)])),
    };
    progress(row);
    return row;
  }

  const unloaded = (sys) =>
    measure(sys, 'unloaded', null, async () => {
      const t = performance.now();
      for (let i = 0; i < UNLOADED_N; i++) await sys.waitFor(sys.publishOne());
      return { ms: performance.now() - t, done: sys.point.succeeded };
    });

  const closedLoop = (sys) =>
    measure(sys, 'max', null, async () => {
      const t = performance.now();
      let stop = false;
      // each worker keeps one run outstanding: publish, wait for its terminal event, repeat
      const worker = async () => {
        while (!stop) await sys.waitFor(sys.publishOne());
      };
      const workers = Array.from({ length: CLOSED_CONCURRENCY }, worker);
      // steady state only: the window opens once as many runs have ended as are kept in flight (every
      // loop has gone round once: the pipeline is full). Counting from the first publish measured the
      // fill, not the rate: at 400 in flight and seconds of latency, most of a 4 s window was fill.
      const ended = () => sys.point.succeeded + sys.point.failed;
      while (ended() < CLOSED_CONCURRENCY && performance.now() - t < FILL_CAP_MS) await sleep(20);
      const opened = performance.now();
      const succeededAtOpen = sys.point.succeeded;
      await sleep(DURATION_S * 1000);
      stop = true;
      // completions after the window (the last outstanding runs) are not counted
      const window = {
        ms: performance.now() - opened,
        done: sys.point.succeeded - succeededAtOpen,
        fillMs: opened - t,
      };
      void Promise.all(workers); // each ends when its last run does (drain() ends the lost ones)
      return window;
    });

  const openLoop = (sys, label, rate) =>
    measure(sys, label, rate, async () => {
      const start = performance.now();
      let sent = 0;
      while (performance.now() - start < DURATION_S * 1000) {
        const due = Math.floor(((performance.now() - start) / 1000) * rate);
        while (sent < due) {
          sys.publishOne();
          sent++;
        }
        await sleep(5);
      }
      return null; // throughput from the first publish to the last completion
    });

  const reps = [];
  for (let rep = 1; rep <= REPEAT; rep++) {
    console.log(`\n-- repetition ${rep}/${REPEAT}`);
    const rows = [];
    rows.push(await unloaded(warden), await unloaded(reference));
    const wMax = await closedLoop(warden);
    rows.push(wMax, await closedLoop(reference));
    const rates = [
      ...FRACTIONS.map((f) => ({
        label: `${Math.round(f * 100)}% of max`,
        rate: Math.max(1, Math.round(f * wMax.runs_per_s)),
      })),
      ...EXTRA_RATES.map((r) => ({ label: `${r}/s`, rate: r })),
    ];
    for (const { label, rate } of rates)
      rows.push(await openLoop(warden, label, rate), await openLoop(reference, label, rate));
    reps.push(rows);
  }

  if (args.metrics) await dumpMetrics(procs);
  // late duplicates (a redelivery after its point ended) are charged to their point in `runs`
  await sleep(SETTLE_MS);

  const summary = summarise(reps);
  printSummary(summary);
  const out = {
    at: new Date().toISOString(),
    machine: { cpus: os.cpus().length, node: process.version, loadavg_at_end: os.loadavg().map((l) => round(l)) },
    options: {
      repeat: REPEAT,
      duration_s: DURATION_S,
      unloaded_n: UNLOADED_N,
      fractions_of_max: FRACTIONS,
      extra_rates: EXTRA_RATES,
      closed_concurrency: CLOSED_CONCURRENCY,
      drain_timeout_s: DRAIN_MS / 1000,
    },
    counted_processes: sampler.describe(),
    summary,
    repetitions: reps,
    publish_errors: { warden: warden.publishErrors, reference: reference.publishErrors },
    wall_s: Math.round((Date.now() - startedAt) / 1000),
  };
  console.log(`\nwrote ${lib.writeResults('e2e', out)} (${out.wall_s} s)`);

  for (const s of subs) s.unsubscribe();
  await nc.drain();
  await ref.stop();
  await lib.stopServices(procs);
  if (PROF_DIR) nameProfiles(procs, ref.child.pid);
  await lib.cleanup(run, [`${refPrefix.toUpperCase()}_A`, `${refPrefix.toUpperCase()}_B`]);
  await dropDatabase(refDbName);
  const lossOrDup = summary.points.some(
    (p) => p.warden.lost || p.warden.duplicates || p.reference.lost || p.reference.duplicates,
  );
  if (lossOrDup) {
    console.error('e2e: runs were lost or executed twice (see the table)');
    process.exitCode = 1;
  }
}

/** The reference chain as a child process, its database created first; resolves once it consumes. */
async function startReference() {
  const { Client } = require('pg');
  const pg = new Client({ connectionString: `${PG}/postgres` });
  await pg.connect();
  await pg.query(`CREATE DATABASE "${refDbName}"`);
  await pg.end();
  const child = fork(path.join(__dirname, 'ref-chain.js'), [], {
    execArgv: nodeArgs,
    env: { ...process.env, NATS_URL, REF_PREFIX: refPrefix, REF_DATABASE_URL: `${PG}/${refDbName}` },
  });
  await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`reference chain exited (${code}) before it was ready`)));
  });
  return {
    child,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', resolve);
        child.send('stop');
        setTimeout(() => child.kill('SIGTERM'), 10_000).unref();
      }),
  };
}

async function dropDatabase(name) {
  try {
    const { Client } = require('pg');
    const pg = new Client({ connectionString: `${PG}/postgres` });
    await pg.connect();
    await pg.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await pg.end();
  } catch (err) {
    console.error('cleanup failed:', err.message);
  }
}

/**
 * What is counted as whose CPU:
 * - each service: its node process, plus children it has reaped; `workers sandboxes`: every live
 *   descendant of the workers process (the sandbox processes and what they run);
 * - `reference chain`: the child process running bench/ref-chain.js;
 * - `nats-server`: the process listening on NATS_URL's port (shared with anyone else using it);
 * - `postgres (<db>)`: the cluster's backends whose process title names this run's database (Warden's,
 *   or the reference's `_ref` one), found under the postmaster (the process listening on the PG port);
 * - `postgres (aux)`: the postmaster itself and its non-backend children (WAL writer, checkpointer,
 *   background writer, autovacuum launcher): shared by every database, so it includes others' load;
 * - `postgres (other databases)`: other backends (other people's tests), not counted in the run's CPU,
 *   kept in the JSON to show the noise; `load generator`: this process.
 */
function cpuSampler(procs, refPid) {
  const natsPid = pidListeningOn(Number(new URL(NATS_URL.split(',')[0]).port || 4222));
  const pgPid = pidListeningOn(Number(new URL(PG).port || 5432));
  const byPid = Object.fromEntries(procs.map((p) => [p.name, p.child.pid]));
  const workersPid = byPid.workers;
  const pgChildren = (all) => (pgPid ? descendants(pgPid, all).filter((pid) => all.get(pid)?.ppid === pgPid) : []);
  const isBackend = (title) => /\d+\.\d+\.\d+\.\d+\(\d+\)|\[local\]|::1\(\d+\)|\(\d+\)/.test(title);
  const titleHasDb = (title, db) => title.split(' ').includes(db);
  const groups = {
    ...Object.fromEntries(SERVICES.map((s) => [s, () => [byPid[s]]])),
    'workers sandboxes': (all) => descendants(workersPid, all),
    'reference chain': () => [refPid],
    'nats-server': () => (natsPid ? [natsPid] : []),
    [`postgres (warden db)`]: (all) => pgChildren(all).filter((pid) => titleHasDb(cmdline(pid), run.dbName)),
    [`postgres (reference db)`]: (all) => pgChildren(all).filter((pid) => titleHasDb(cmdline(pid), refDbName)),
    'postgres (aux)': (all) => [
      ...(pgPid ? [pgPid] : []),
      ...pgChildren(all).filter((pid) => !isBackend(cmdline(pid)) && !/autovacuum worker/.test(cmdline(pid))),
    ],
    'postgres (other databases)': (all) =>
      pgChildren(all).filter((pid) => {
        const t = cmdline(pid);
        return (isBackend(t) || /autovacuum worker/.test(t)) && !titleHasDb(t, run.dbName) && !titleHasDb(t, refDbName);
      }),
    'load generator': () => [process.pid],
  };
  const sampler = new CpuSampler(groups, new Set([process.pid, ...(pgPid ? [pgPid] : [])]));
  sampler.describe = () => ({
    nats_server_pid: natsPid,
    postmaster_pid: pgPid,
    services: byPid,
    reference_chain_pid: refPid,
    load_generator_pid: process.pid,
    note:
      'utime+stime (+ reaped children) from /proc/<pid>/stat at the start and end of each point, 10 ms ticks; ' +
      'postgres (warden db|reference db) = backends whose title names that database; postgres (aux) = postmaster ' +
      'itself + WAL writer, checkpointer, background writer, launchers (shared with every database on the cluster); ' +
      '"other (not counted above)" = machine busy time minus every group: other engineers\' processes, kernel threads, ' +
      "other databases' backends",
  });
  return sampler;
}

const median = (xs) => {
  const v = xs.filter((x) => x !== null && x !== undefined && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
const round2 = (v) => (v === null || v === undefined ? null : Math.round(v * 100) / 100);
const ratio = (a, b) => (a === null || b === null || !b ? null : a / b);

/** Per point: medians over repetitions of each system's figures, the median of per-repetition ratios. */
function summarise(reps) {
  const labels = reps[0].filter((r) => r.system === 'warden').map((r) => r.point);
  const points = labels.map((label) => {
    const pairs = reps.map((rows) => ({
      w: rows.find((r) => r.system === 'warden' && r.point === label),
      r: rows.find((r) => r.system === 'reference' && r.point === label),
    }));
    const side = (key) => {
      const rows = pairs.map((p) => p[key]);
      return {
        offered_per_s: median(rows.map((r) => r.offered_per_s)),
        runs_per_s: median(rows.map((r) => r.runs_per_s)),
        p50_ms: round(median(rows.map((r) => r.p50_ms))),
        p99_ms: round(median(rows.map((r) => r.p99_ms))),
        max_ms: round(median(rows.map((r) => r.max_ms))),
        sent: rows.reduce((s, r) => s + r.sent, 0),
        succeeded: rows.reduce((s, r) => s + r.succeeded, 0),
        failed: rows.reduce((s, r) => s + r.failed, 0),
        lost: rows.reduce((s, r) => s + r.lost, 0),
        duplicates: rows.reduce((s, r) => s + r.duplicates, 0),
        machine_busy_pct: median(rows.map((r) => r.machine_busy_pct)),
        cpu_ms_per_run: Object.fromEntries(
          [...SHOWN[rows[0].system], OTHER].map((n) => [n, round2(median(rows.map((r) => r.cpu_ms_per_run[n])))]),
        ),
        cpu_ms_per_run_counted: round2(median(rows.map(sumCpu))),
      };
    };
    const per = (f) => round2(median(pairs.map(f)));
    return {
      point: label,
      warden: side('w'),
      reference: side('r'),
      ratio: {
        p50: per((p) => ratio(p.w.p50_ms, p.r.p50_ms)),
        p99: per((p) => ratio(p.w.p99_ms, p.r.p99_ms)),
        runs_per_s: per((p) => ratio(p.w.runs_per_s, p.r.runs_per_s)),
        cpu_ms_per_run: per((p) => ratio(sumCpu(p.w), sumCpu(p.r))),
      },
    };
  });
  return { repetitions: reps.length, points };
}

/** CPU per run of the processes that belong to a row's system (without "other"). */
const sumCpu = (row) => SHOWN[row.system].reduce((s, n) => s + (row.cpu_ms_per_run[n] ?? 0), 0);

function progress(r) {
  console.log(
    `${r.system.padEnd(9)} ${r.point.padEnd(12)} ${String(r.offered_per_s ?? '-').padStart(5)}/s offered  ` +
      `${String(r.runs_per_s).padStart(5)} runs/s  p50 ${String(r.p50_ms).padStart(7)} ms  p99 ${String(r.p99_ms).padStart(7)} ms  ` +
      `sent ${r.sent} ok ${r.succeeded} failed ${r.failed} lost ${r.lost} dup ${r.duplicates}  cpu ${r.machine_busy_pct}%` +
      (r.fill_ms !== undefined ? `  (window after ${r.fill_ms} ms of fill)` : ''),
  );
}

function printSummary({ repetitions, points }) {
  const f = (v) => (v === null || v === undefined ? '-' : String(v));
  const x = (v) => (v === null || v === undefined ? '-' : `${v}x`);
  console.log(`\ne2e: median of ${repetitions}; ratio = Warden / reference chain, taken within each repetition`);
  console.log(
    lib.table([
      [
        'point',
        'offered/s',
        'W runs/s',
        'R runs/s',
        'thr',
        'W p50',
        'R p50',
        'p50',
        'W p99',
        'R p99',
        'p99',
        'CPU/run',
        'lost W/R',
        'dup W/R',
      ],
      ...points.map((p) => [
        p.point,
        f(p.warden.offered_per_s),
        f(p.warden.runs_per_s),
        f(p.reference.runs_per_s),
        x(p.ratio.runs_per_s),
        f(p.warden.p50_ms),
        f(p.reference.p50_ms),
        x(p.ratio.p50),
        f(p.warden.p99_ms),
        f(p.reference.p99_ms),
        x(p.ratio.p99),
        x(p.ratio.cpu_ms_per_run),
        `${p.warden.lost}/${p.reference.lost}`,
        `${p.warden.duplicates}/${p.reference.duplicates}`,
      ]),
    ]),
  );
  for (const key of ['warden', 'reference']) {
    const names = [...SHOWN[key], OTHER];
    console.log(`\n${key === 'warden' ? 'Warden' : 'reference chain'}: CPU ms per completed run (median)`);
    console.log(
      lib.table([
        ['process', ...points.map((p) => p.point)],
        ...names.map((n) => [n, ...points.map((p) => f(p[key].cpu_ms_per_run[n]))]),
        ['total counted', ...points.map((p) => f(p[key].cpu_ms_per_run_counted))],
        ['machine busy %', ...points.map((p) => f(p[key].machine_busy_pct))],
      ]),
    );
  }
}

/** Renames each CPU.<…>.<pid>.<…>.cpuprofile of this run to <service>.<pid>.cpuprofile. */
function nameProfiles(procs, refPid) {
  const names = new Map([...procs.map((p) => [p.child.pid, p.name]), [refPid, 'reference-chain']]);
  for (const file of fs.readdirSync(PROF_DIR)) {
    const m = /^CPU\.[^.]+\.[^.]+\.(\d+)\.\d+\.\d+\.cpuprofile$/.exec(file);
    const name = m && names.get(Number(m[1]));
    if (name) fs.renameSync(path.join(PROF_DIR, file), path.join(PROF_DIR, `${name}.${m[1]}.cpuprofile`));
  }
  console.log(`CPU profiles in ${PROF_DIR} (node bench/profile-summary.js ${process.env.BENCH_CPU_PROF})`);
}

/** Where lost runs stopped: the orchestrator's status and last event of (up to 50 of) them. */
async function diagnoseLost(procs, ids) {
  const orchestrator = procs.find((p) => p.name === 'orchestrator');
  const seen = {};
  for (const id of ids) {
    let key;
    try {
      const res = await fetch(`${orchestrator.url}/v1/runs/${id}`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      if (res.status === 404) key = 'unknown to the orchestrator';
      else {
        const body = await res.json();
        key = `status ${body.status}, last event ${body.events?.[body.events.length - 1]?.type ?? '-'}`;
      }
    } catch (err) {
      key = `orchestrator unreachable: ${err.message}`;
    }
    seen[key] = (seen[key] ?? 0) + 1;
  }
  console.error(`warden: lost runs (${ids.length} looked up): ${JSON.stringify(seen)}`);
}

/** With --metrics 1: per-consumer handler and projection batch times, to find the slow hop. */
async function dumpMetrics(procs) {
  for (const p of procs) {
    const text = await (await fetch(`http://127.0.0.1:${p.port}/metrics`)).text();
    const sums = {};
    for (const line of text.split('\n')) {
      // sandbox processes started, by pool and why (warm, refill, recycle, on_path)
      if (line.startsWith('warden_workers_sandbox_starts_total{')) console.log(`${p.name.padEnd(13)} ${line}`);
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

// never leave the services or the reference chain behind (Ctrl-C, a closed pipe, a crash)
process.on('exit', () => {
  for (const c of [...running.procs.map((p) => p.child), running.ref?.child])
    if (c && c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
});
let aborting = false;
/** Stops the children, removes the run's streams and databases, exits. */
async function abort(code) {
  if (aborting) return;
  aborting = true;
  setTimeout(() => process.exit(code), 20_000).unref();
  await running.ref?.stop();
  await lib.stopServices(running.procs);
  await lib.cleanup(run, [`${refPrefix.toUpperCase()}_A`, `${refPrefix.toUpperCase()}_B`]);
  await dropDatabase(refDbName);
  process.exit(code);
}
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => void abort(130));
process.stdout.on('error', () => void abort(1)); // EPIPE: the reader went away

main().catch(async (err) => {
  console.error(`bench failed: ${err.stack ?? err.message}`);
  await abort(1);
});
