#!/usr/bin/env node
/*
 * Soak: Warden with --replicas (2) of every service on a private 3-node NATS cluster (R3 streams),
 * under a steady open-loop load of proposals — allowed (fs.write_file by dev), denied (fs.write_file
 * by research: role-tools) and escalated-then-approved (email.send by outreach, approved by an
 * operator over the approvals HTTP API of a live replica) — while a chaos loop kill -9s a random
 * replica every --kill-every s (restarted at once, as a supervisor would) and one NATS node once
 * (restarted after 10 s). At the end it checks, and prints:
 *   accepted = terminal      every proposal ingest accepted has exactly one terminal event
 *   zero lost, zero twice    side effects counted: a file per allowed write, an .eml per sent email,
 *                            at most one run_started id per run, no execution attempt that began twice
 *   approvals decided once   exactly one closure event per approval requested
 *   read models = rebuild    orchestrator runs/timeline and the approvals inbox equal a rebuild
 *   p99 per kill             latency (publish → terminal) of allowed/denied proposals submitted in
 *                            the 10 s after each kill ("during") and after that until the next ("after")
 *   hand-back                runs handed to another worker (claimed, not begun) and outcome_unknown ends
 *
 *   node bench/soak.js [--quick] [--rate 200] [--duration 600] [--replicas 2] [--kill-every 20]
 *                      [--drain-timeout 180] [--out bench/results/soak.json]
 *   --quick: 15 proposals/s for 40 s, a kill every 12 s (CI-sized; test/soak.int-spec.ts runs it)
 *
 * Everything is private: its own nats-server processes on free ports and store directories, a
 * subject prefix and database of its own; the machine's Redis is used under that prefix (never
 * restarted). Needs `npm run build` first (npm run soak does it). Exits 1 if a check fails.
 */
'use strict';
const { spawn } = require('node:child_process');
const { randomBytes, randomUUID } = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { connect } = require('@nats-io/transport-node');
const { jetstream, DeliverPolicy } = require('@nats-io/jetstream');
const { Client } = require('pg');
const lib = require('./lib');
const { sleep, percentile, round } = lib;

const args = lib.parseArgs();
const QUICK = 'quick' in args;
const RATE = Number(args.rate ?? (QUICK ? 15 : 200));
const DURATION_S = Number(args.duration ?? (QUICK ? 40 : 600));
const REPLICAS = Number(args.replicas ?? 2);
const KILL_EVERY_S = Number(args['kill-every'] ?? (QUICK ? 12 : 20));
const DRAIN_S = Number(args['drain-timeout'] ?? 180);
const OUT = args.out ?? path.join(lib.ROOT, 'bench', 'results', 'soak.json');
const NATS_SERVER = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';
const NODE_CONF = path.join(lib.ROOT, 'deploy', 'nats', 'cluster', 'node.conf');
const SERVICES = ['ingest', 'policy', 'orchestrator', 'approvals', 'workers'];
const TERMINAL = [
  'run_succeeded',
  'run_failed',
  'run_denied',
  'run_cancelled',
  'approval_rejected',
  'approval_expired',
];
const CLOSURES = ['approval_granted', 'approval_rejected', 'approval_expired'];
/** "During" a kill: proposals submitted in the first half of the interval after it (at most 10 s). */
const DURING_MS = Math.min(10_000, (KILL_EVERY_S * 1000) / 2);

const run = lib.privateRun('soak');
const { prefix } = run;
const ADMIN = `soak-admin-${randomBytes(12).toString('hex')}`;
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-soak-'));
const workspace = path.join(root, 'workspace');
const outbox = path.join(root, 'outbox');
const log = (msg) => process.stdout.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// ---- the private NATS cluster -------------------------------------------------------------------
const nodes = [];
function spawnNode(n) {
  const routes = Object.fromEntries(nodes.map((m, i) => [`NATS_ROUTE_${i + 1}`, `nats://127.0.0.1:${m.clusterPort}`]));
  n.proc = spawn(NATS_SERVER, ['-c', NODE_CONF, '-a', '127.0.0.1', '--cluster', `nats://127.0.0.1:${n.clusterPort}`], {
    env: {
      PATH: process.env.PATH,
      NATS_SERVER_NAME: n.name,
      NATS_PORT: String(n.port),
      NATS_HTTP_PORT: String(n.httpPort),
      NATS_CLUSTER_PORT: String(n.clusterPort),
      NATS_STORE_DIR: n.storeDir,
      ...routes,
    },
    stdio: 'ignore',
  });
}
async function natsHealthy(timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await Promise.all(
      nodes
        .filter((n) => n.proc)
        .map((n) =>
          fetch(`http://127.0.0.1:${n.httpPort}/healthz`).then(
            (r) => r.ok,
            () => false,
          ),
        ),
    );
    if (ok.every(Boolean)) return;
    if (Date.now() > deadline) throw new Error('the NATS cluster is not healthy');
    await sleep(250);
  }
}
async function startCluster() {
  for (let i = 1; i <= 3; i++)
    nodes.push({
      name: `${prefix}-nats-${i}`,
      port: await freePort(),
      httpPort: await freePort(),
      clusterPort: await freePort(),
      storeDir: path.join(root, `nats-${i}`),
    });
  for (const n of nodes) spawnNode(n);
  await natsHealthy(30_000);
  return nodes.map((n) => `nats://127.0.0.1:${n.port}`).join(',');
}
async function killNode(i) {
  const p = nodes[i].proc;
  nodes[i].proc = undefined;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGKILL');
  await exited;
}

// ---- the replicas -------------------------------------------------------------------------------
const replicas = new Map(); // name -> { service, n, port, child, url }
const processed = new Map(); // name -> messages handled by its earlier lives (scraped before each kill)
let serviceEnv;
async function startReplica(service, n) {
  const name = `${service}-${n}`;
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(lib.ROOT, 'services', service, 'dist', 'main.js')], {
    env: {
      ...serviceEnv,
      [`${service.toUpperCase()}_PORT`]: String(port),
      WORKER_ID: `${name}-${randomBytes(2).toString('hex')}`,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr.on('data', (d) => {
    const line = String(d).trim();
    if (/ERROR/.test(line)) process.stderr.write(`[${name}] ${line.slice(0, 400)}\n`);
  });
  const r = { name, service, n, port, child, url: `http://127.0.0.1:${port}` };
  replicas.set(name, r);
  let ready = false;
  const died = new Promise((_, reject) =>
    child.once('exit', (code, signal) => {
      if (!ready) reject(new Error(`${name} exited (${code ?? signal}) while starting`));
    }),
  );
  await Promise.race([lib.waitReady(name, r.url, 90_000), died]);
  ready = true;
  r.ready = true;
  return r;
}
async function messagesOf(r) {
  try {
    const text = await (await fetch(`${r.url}/metrics`, { signal: AbortSignal.timeout(3000) })).text();
    return text
      .split('\n')
      .filter((l) => l.startsWith('warden_bus_messages_total{') || l.startsWith('warden_projection_events_total{'))
      .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
  } catch {
    return 0;
  }
}
async function kill9(name) {
  const r = replicas.get(name);
  processed.set(name, (processed.get(name) ?? 0) + (await messagesOf(r)));
  replicas.delete(name);
  const exited = new Promise((res) => (r.child.exitCode !== null ? res() : r.child.once('exit', res)));
  r.child.kill('SIGKILL');
  await exited;
  return r;
}

/** Starts a killed replica again, as a supervisor would: until it is up (a start can fail while NATS moves). */
async function restart(r) {
  for (let attempt = 1; ; attempt++) {
    try {
      await startReplica(r.service, r.n);
      return;
    } catch (err) {
      log(`restart ${attempt} of ${r.service}-${r.n} failed (${err.message.split('\n')[0]}); again in 2 s`);
      await stopReplica(`${r.service}-${r.n}`);
      await sleep(2000);
    }
  }
}

// ---- the load -----------------------------------------------------------------------------------
/** kind by index: 70 % allowed, 15 % denied, 15 % escalated-then-approved. */
function kindOf(i) {
  const m = i % 20;
  return m < 14 ? 'allow' : m < 17 ? 'deny' : 'escalate';
}
function proposal(i, runId) {
  const kind = kindOf(i);
  if (kind === 'allow')
    return {
      run_id: runId,
      agent: { id: `soak-dev-${i % 13}`, role: 'dev' },
      action: { tool: 'fs.write_file', args: { path: `out/${runId}.txt`, content: runId } },
    };
  if (kind === 'deny')
    return {
      run_id: runId,
      agent: { id: `soak-research-${i % 7}`, role: 'research' },
      action: { tool: 'fs.write_file', args: { path: `out/denied-${runId}.txt`, content: runId } },
    };
  return {
    run_id: runId,
    agent: { id: `soak-outreach-${i % 5}`, role: 'outreach' },
    action: { tool: 'email.send', args: { to: ['someone@example.com'], subject: `soak ${runId}`, text: 'once' } },
  };
}

async function main() {
  lib.requireBuilt(...SERVICES);
  fs.mkdirSync(path.join(workspace, 'out'), { recursive: true });
  fs.mkdirSync(outbox, { recursive: true });
  log(`private NATS cluster (3 nodes) …`);
  const natsUrl = await startCluster();
  serviceEnv = {
    ...process.env,
    NATS_URL: natsUrl,
    WARDEN_STREAM_REPLICAS: '3',
    WARDEN_SUBJECT_PREFIX: prefix,
    DATABASE_URL: run.databaseUrl,
    REDIS_URL: lib.REDIS_URL,
    WARDEN_KEYRING_SEED: randomBytes(32).toString('base64'),
    WARDEN_BOOTSTRAP_ADMIN_TOKEN: ADMIN,
    WARDEN_WORKSPACE: workspace,
    WORKER_EMAIL_OUTBOX: outbox,
    WORKER_SANDBOX: process.env.SOAK_WORKER_SANDBOX ?? 'inline',
    WARDEN_ACK_WAIT_MS: '5000',
    APPROVAL_SWEEP_MS: '1000',
    LOG_LEVEL: process.env.SOAK_LOG_LEVEL ?? 'error',
  };
  for (const k of ['WARDEN_SIGNING_KEY', 'WARDEN_PRODUCER_KEYS']) delete serviceEnv[k];
  log(`${REPLICAS} replicas of each of ${SERVICES.length} services …`);
  // the first replica of each alone first: migrations and streams are created once, in order
  for (const s of SERVICES) await startReplica(s, 1);
  await Promise.all(SERVICES.flatMap((s) => Array.from({ length: REPLICAS - 1 }, (_, i) => startReplica(s, i + 2))));

  const nc = await connect({ servers: natsUrl.split(','), name: 'warden-soak', maxReconnectAttempts: -1 });
  const js = jetstream(nc, { timeout: 10_000 });

  // observe: first terminal event per run (latency), approvals to vote on
  const submittedAt = new Map(); // runId -> ms
  const kinds = new Map(); // runId -> kind
  const latency = new Map(); // runId -> ms
  const toApprove = [];
  const sub = nc.subscribe(`${prefix}.events.run.*.*`);
  (async () => {
    for await (const m of sub) {
      const [, , , runId, type] = m.subject.split('.');
      if (type === 'approval_requested') toApprove.push({ runId, approvalId: m.json().data.approval_id });
      else if (TERMINAL.includes(type) && !latency.has(runId) && submittedAt.has(runId))
        latency.set(runId, Date.now() - submittedAt.get(runId));
    }
  })();

  // an approver: an operator voting on every approval through a live approvals replica
  const approvalsUrl = () => {
    const live = [...replicas.values()].filter((r) => r.service === 'approvals');
    return live[Math.floor(Math.random() * live.length)]?.url;
  };
  const api = async (method, p, token, body) => {
    const res = await fetch(approvalsUrl() + p, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  const op = await api('POST', '/v1/operators', ADMIN, { name: 'soak-approver', roles: ['approver'], max_tier: 3 });
  if (op.status !== 201) throw new Error(`cannot create an operator: ${op.status} ${JSON.stringify(op.body)}`);
  let approving = true;
  let votes = 0;
  let unvoted = 0;
  const approver = (async () => {
    while (approving || toApprove.length) {
      const a = toApprove.shift();
      if (!a) {
        await sleep(100);
        continue;
      }
      // a person keeps trying while the approvals replicas are down (until the drain ends)
      for (;;) {
        try {
          const r = await api('POST', `/v1/approvals/${a.approvalId}/approve`, op.body.token, {});
          if (r.status === 200 || r.status === 409) {
            votes++;
            break;
          }
        } catch {
          // a replica killed mid-request: another one next time
        }
        if (!approving) {
          unvoted++;
          break;
        }
        await sleep(1000);
      }
    }
  })();

  // chaos: kill -9 a random replica every KILL_EVERY_S (restarted at once), one NATS node once
  const kills = [];
  let chaos = true;
  const t0 = Date.now();
  const chaosLoop = (async () => {
    let natsDone = false;
    while (chaos) {
      await sleep(KILL_EVERY_S * 1000);
      if (!chaos) break;
      const elapsed = Date.now() - t0;
      if (!natsDone && elapsed > DURATION_S * 400) {
        natsDone = true;
        const i = Math.floor(Math.random() * 3);
        kills.push({ at_ms: elapsed, target: nodes[i].name });
        log(`kill -9 NATS node ${nodes[i].name}`);
        await killNode(i);
        setTimeout(() => {
          spawnNode(nodes[i]);
          log(`NATS node ${nodes[i].name} restarted`);
        }, 10_000);
        continue;
      }
      // a replica still starting is left alone (a supervisor's restart is already on it)
      const names = [...replicas.values()].filter((r) => r.ready).map((r) => r.name);
      if (names.length === 0) continue;
      const name = names[Math.floor(Math.random() * names.length)];
      kills.push({ at_ms: elapsed, target: name });
      log(`kill -9 ${name}`);
      const r = await kill9(name);
      void restart(r);
    }
  })();

  // the open-loop load
  log(`load: ${RATE}/s for ${DURATION_S} s, a kill every ${KILL_EVERY_S} s`);
  const accepted = new Set();
  const refusedAtIngest = [];
  const publishes = [];
  const total = Math.round(RATE * DURATION_S);
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / RATE;
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait);
    const runId = randomUUID();
    const body = JSON.stringify(proposal(i, runId));
    kinds.set(runId, kindOf(i));
    submittedAt.set(runId, Date.now());
    publishes.push(
      (async () => {
        // an integrator's publish: retried with backoff while the cluster moves a stream leader
        for (let attempt = 0; ; attempt++) {
          try {
            await js.publish(`${prefix}.ingest.tasks`, body, { msgID: runId });
            accepted.add(runId);
            return;
          } catch (err) {
            if (attempt >= 30) return void refusedAtIngest.push({ runId, error: err.message });
            await sleep(Math.min(200 * 2 ** attempt, 3000));
          }
        }
      })(),
    );
    if (i % (RATE * 10) === 0 && i > 0) log(`${i}/${total} submitted, ${latency.size} ended`);
  }
  await Promise.all(publishes);
  chaos = false;
  await chaosLoop;
  const loadEndedMs = Date.now() - t0;
  log(`load done (${accepted.size} accepted); draining …`);

  // drain: every accepted run has ended (by the log, read from the stream at the end)
  const deadline = Date.now() + DRAIN_S * 1000;
  while (Date.now() < deadline && [...accepted].some((id) => !latency.has(id))) await sleep(1000);
  approving = false;
  await approver;
  await sleep(3000); // a duplicate, if any, would arrive now
  while (nodes.some((n) => !n.proc)) await sleep(500);
  await natsHealthy(60_000);

  // ---- the checks, from the log and the side effects ----
  const events = await readRunEvents(js);
  const byRun = new Map();
  for (const e of events) byRun.set(e.run_id, [...(byRun.get(e.run_id) ?? []), e]);
  let lost = 0;
  let twice = 0;
  let terminalOnce = 0;
  let outcomeUnknown = 0;
  const problems = [];
  const approvalClosures = new Map();
  let approvalsRequested = 0;
  let awaitingApproval = 0;
  for (const runId of accepted) {
    const evs = byRun.get(runId) ?? [];
    for (const e of evs) {
      if (e.type === 'approval_requested') {
        approvalsRequested++;
        approvalClosures.set(e.data.approval_id, approvalClosures.get(e.data.approval_id) ?? 0);
      }
      if (CLOSURES.includes(e.type))
        approvalClosures.set(e.data.approval_id, (approvalClosures.get(e.data.approval_id) ?? 0) + 1);
    }
    const ends = evs.filter((e) => TERMINAL.includes(e.type));
    if (ends.length === 0) {
      // waiting for a person is not lost (the approver could not reach an approvals replica in time)
      if (evs.some((e) => e.type === 'approval_requested') && !evs.some((e) => CLOSURES.includes(e.type)))
        awaitingApproval++;
      else lost++;
      if (problems.length < 20) problems.push({ runId, kind: kinds.get(runId), events: evs.map((e) => e.type) });
      continue;
    }
    const starts = new Set(evs.filter((e) => e.type === 'run_started').map((e) => e.id));
    if (ends.length > 1 || starts.size > 1) {
      twice++;
      problems.push({ runId, twice: evs.map((e) => e.type) });
    } else terminalOnce++;
    if (ends[0].type === 'run_failed' && ends[0].data?.result?.outcome_unknown) outcomeUnknown++;
  }
  const decidedOnce = [...approvalClosures.values()].filter((n) => n === 1).length;

  // side effects: one file per allowed write that succeeded, one .eml per email that succeeded
  const succeeded = (kind) =>
    [...accepted].filter((id) => kinds.get(id) === kind && byRun.get(id)?.some((e) => e.type === 'run_succeeded'));
  const writesOk = succeeded('allow');
  const missingFiles = writesOk.filter((id) => {
    try {
      return fs.readFileSync(path.join(workspace, 'out', `${id}.txt`), 'utf8') !== id;
    } catch {
      return true;
    }
  }).length;
  const emailsOk = succeeded('escalate');
  const emlPerRun = new Map();
  for (const f of fs.readdirSync(outbox).filter((f) => f.endsWith('.eml'))) {
    const subject = /^Subject: soak ([0-9a-f-]{36})/m.exec(fs.readFileSync(path.join(outbox, f), 'utf8'))?.[1];
    emlPerRun.set(subject, (emlPerRun.get(subject) ?? 0) + 1);
  }
  const emailsTwice = [...emlPerRun.values()].filter((n) => n > 1).length;
  const emailsMissing = emailsOk.filter((id) => !emlPerRun.has(id)).length;

  // work shared: messages handled by each replica over all its lives
  for (const r of replicas.values()) processed.set(r.name, (processed.get(r.name) ?? 0) + (await messagesOf(r)));
  const pg = new Client({ connectionString: run.databaseUrl });
  await pg.connect();
  const handedBack = Number(
    (
      await pg.query(
        `SELECT count(*) AS n FROM workers.executions WHERE attempt > 1 AND status = 'succeeded' AND tool IN ('fs.write_file', 'email.send')`,
      )
    ).rows[0].n,
  );
  const executionsPerWorker = (
    await pg.query(`SELECT split_part(worker_id, '-', 1) || '-' || split_part(worker_id, '-', 2) AS replica, count(*)::int AS n
                    FROM workers.executions GROUP BY 1 ORDER BY 1`)
  ).rows;

  // read models equal a rebuild: stop everything, snapshot, rebuild from the log, compare
  log('stopping the services; rebuilding read models …');
  await Promise.all([...replicas.keys()].map((n) => stopReplica(n)));
  const snapshot = async () => ({
    runs: (await pg.query('SELECT * FROM orchestrator.runs ORDER BY run_id')).rows,
    timeline: (await pg.query('SELECT id, run_id, seq, type FROM orchestrator.run_events ORDER BY id')).rows,
    inbox: (await pg.query('SELECT id, run_id, status FROM approvals.inbox ORDER BY id')).rows,
  });
  const live = await snapshot();
  const { rebuildService } = require('@warden/runtime');
  for (const s of ['orchestrator', 'approvals'])
    await rebuildService(require(`@warden/${s}-service/projections`).rebuildTarget, serviceEnv);
  const rebuilt = await snapshot();
  const rebuildEqual = JSON.stringify(live) === JSON.stringify(rebuilt);
  await pg.end();

  // p99 around each kill: allowed and denied proposals (escalations wait for a person)
  const auto = [...accepted].filter((id) => kinds.get(id) !== 'escalate' && latency.has(id));
  const window = (from, to) => {
    const l = auto
      .filter((id) => submittedAt.get(id) - t0 >= from && submittedAt.get(id) - t0 < to)
      .map((id) => latency.get(id))
      .sort((a, b) => a - b);
    return { n: l.length, p50_ms: percentile(l, 50), p99_ms: percentile(l, 99) };
  };
  const perKill = kills.map((k, i) => ({
    ...k,
    during: window(k.at_ms, k.at_ms + DURING_MS),
    after: window(k.at_ms + DURING_MS, kills[i + 1]?.at_ms ?? loadEndedMs),
  }));
  const overall = window(0, loadEndedMs);

  const result = {
    at: new Date().toISOString(),
    host: { cpus: os.cpus().length, load1: round(os.loadavg()[0]) },
    params: { rate: RATE, duration_s: DURATION_S, replicas: REPLICAS, kill_every_s: KILL_EVERY_S, quick: QUICK },
    submitted: total,
    accepted: accepted.size,
    refused_at_ingest: refusedAtIngest.length,
    terminal_once: terminalOnce,
    lost,
    awaiting_approval: awaitingApproval,
    run_twice: twice,
    by_kind: Object.fromEntries(
      ['allow', 'deny', 'escalate'].map((k) => [k, [...accepted].filter((id) => kinds.get(id) === k).length]),
    ),
    side_effects: {
      writes_succeeded: writesOk.length,
      writes_missing_or_wrong: missingFiles,
      emails_succeeded: emailsOk.length,
      emails_missing: emailsMissing,
      emails_sent_twice: emailsTwice,
    },
    approvals: { requested: approvalsRequested, decided_once: decidedOnce, votes, not_voted_in_time: unvoted },
    outcome_unknown: outcomeUnknown,
    handed_back: handedBack,
    read_models_equal_rebuild: rebuildEqual,
    work_shared: {
      messages_per_replica: Object.fromEntries([...processed].sort()),
      executions_per_worker: executionsPerWorker,
    },
    latency_overall: overall,
    kills: perKill,
    problems,
  };
  result.ok =
    lost === 0 &&
    awaitingApproval === 0 &&
    twice === 0 &&
    terminalOnce === accepted.size &&
    missingFiles === 0 &&
    emailsMissing === 0 &&
    emailsTwice === 0 &&
    decidedOnce === approvalClosures.size &&
    approvalClosures.size === approvalsRequested &&
    rebuildEqual;
  fs.mkdirSync(path.dirname(OUT), { recursive: true });
  fs.writeFileSync(OUT, `${JSON.stringify(result, null, 2)}\n`);
  printSummary(result);
  log(`wrote ${path.relative(process.cwd(), OUT)}; ${result.ok ? 'all checks passed' : 'CHECKS FAILED'}`);
  await nc.close();
  return result.ok ? 0 : 1;
}

async function stopReplica(name) {
  const r = replicas.get(name);
  replicas.delete(name);
  if (!r || r.child.exitCode !== null) return;
  const exited = new Promise((res) => r.child.once('exit', res));
  r.child.kill('SIGTERM');
  const t = setTimeout(() => r.child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(t);
}

/** Every run event in the events stream, decoded (an ordered consumer from the start). */
async function readRunEvents(js) {
  const consumer = await js.consumers.get(`${prefix.toUpperCase()}_EVENTS`, {
    filter_subjects: `${prefix}.events.run.>`,
    deliver_policy: DeliverPolicy.All,
  });
  const info = await consumer.info(true);
  const out = [];
  if (info.num_pending === 0) return out;
  const iter = await consumer.consume({ max_messages: 1000 });
  for await (const m of iter) {
    out.push(m.json());
    if (m.info.pending === 0) break;
  }
  await iter.close().catch(() => undefined);
  return out;
}

function printSummary(r) {
  const rows = [
    ['check', 'value'],
    ['submitted / accepted', `${r.submitted} / ${r.accepted}`],
    ['allowed / denied / escalated', `${r.by_kind.allow} / ${r.by_kind.deny} / ${r.by_kind.escalate}`],
    ['terminal exactly once', `${r.terminal_once} (accepted = terminal: ${r.terminal_once === r.accepted})`],
    ['lost / awaiting approval', `${r.lost} / ${r.awaiting_approval}`],
    [
      'run twice (events, files, .eml)',
      `${r.run_twice}, ${r.side_effects.writes_missing_or_wrong} wrong files, ${r.side_effects.emails_sent_twice} emails twice`,
    ],
    ['approvals requested / decided once', `${r.approvals.requested} / ${r.approvals.decided_once}`],
    ['handed back / outcome_unknown', `${r.handed_back} / ${r.outcome_unknown}`],
    ['read models = rebuild', r.read_models_equal_rebuild],
    ['p50 / p99 overall (ms)', `${r.latency_overall.p50_ms} / ${r.latency_overall.p99_ms}`],
  ];
  console.log(`\n${lib.table(rows)}\n`);
  const kills = [['kill', 'at s', 'target', 'p99 during ms', 'p99 after ms', 'n during/after']];
  r.kills.forEach((k, i) =>
    kills.push([
      i + 1,
      round(k.at_ms / 1000),
      k.target,
      k.during.p99_ms ?? '-',
      k.after.p99_ms ?? '-',
      `${k.during.n}/${k.after.n}`,
    ]),
  );
  console.log(`${lib.table(kills)}\n`);
}

/** Removes the run's Redis keys (`<prefix>:*`, the machine's Redis is shared). */
async function cleanRedis() {
  const { createRedis } = require('@warden/persistence');
  const redis = createRedis(lib.REDIS_URL, 'soak-cleanup');
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

let exitCode = 1;
let stopping = false;
async function shutdown() {
  if (stopping) return;
  stopping = true;
  await Promise.all([...replicas.keys()].map((n) => stopReplica(n).catch(() => undefined)));
  for (const n of nodes) n.proc?.kill('SIGKILL');
  await lib.cleanup(run).catch(() => undefined);
  await cleanRedis().catch(() => undefined);
  fs.rmSync(root, { recursive: true, force: true });
}
for (const sig of ['SIGINT', 'SIGTERM'])
  process.on(sig, () => {
    log(`${sig}: stopping everything the soak started`);
    void shutdown().finally(() => process.exit(1));
  });
main()
  .then((code) => (exitCode = code))
  .catch((err) => {
    console.error(err && err.stack ? err.stack : err);
  })
  .finally(async () => {
    await shutdown();
    process.exit(exitCode);
  });
