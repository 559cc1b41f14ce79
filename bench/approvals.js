#!/usr/bin/env node
/*
 * Approvals benchmark: with --pending (default 1000) approvals open, the time from an operator's vote
 * (HTTP POST /v1/approvals/:id/approve) to the run's `run_queued` event, p50/p99. The vote path is:
 * vote committed + approval_vote published → policy re-check over bus request/reply → approval_granted
 * published → the orchestrator re-checks the binding and queues the run.
 *
 * Starts ingest, policy, orchestrator and approvals (built dist) as child processes on a private subject
 * prefix and database. If the policy service does not answer `<prefix>.policy.evaluate`, the bench answers
 * it itself (an escalate decision) and says so in the results.
 *
 *   node bench/approvals.js [--pending 1000] [--votes 300] [--concurrency 4]
 *
 * Writes bench/results/approvals.json and prints a table.
 */
'use strict';
const { randomBytes, randomUUID } = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { connect } = require('@nats-io/transport-node');
const { jetstream } = require('@nats-io/jetstream');
const lib = require('./lib');
const { NATS_URL, sleep, percentile, round } = lib;

const args = lib.parseArgs();
const PENDING = Number(args.pending ?? 1000);
const VOTES = Number(args.votes ?? 300);
const CONCURRENCY = Number(args.concurrency ?? 4);
const run = lib.privateRun('bencha');
const { prefix } = run;
const SERVICES = ['ingest', 'policy', 'orchestrator', 'approvals'];
const BASE_PORT = 17901;
const ADMIN = `bench-admin-${randomBytes(12).toString('hex')}`;

/** Started services; stopped on success and on failure. */
let procs = [];

const approvalsUrl = `http://127.0.0.1:${BASE_PORT + SERVICES.indexOf('approvals')}`;
async function api(method, pathname, token, body) {
  const res = await fetch(approvalsUrl + pathname, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** Answers policy re-checks itself when the policy service has no bus responder yet. */
async function ensurePolicyResponder(nc) {
  try {
    await nc.request(
      `${prefix}.policy.evaluate`,
      JSON.stringify({ agent: { id: 'probe', role: 'dev' }, action: { tool: 'git.push', args: {} } }),
      {
        timeout: 2000,
      },
    );
    return 'policy service';
  } catch {
    const sub = nc.subscribe(`${prefix}.policy.evaluate`, { queue: 'bench' });
    (async () => {
      for await (const m of sub) {
        m.respond(
          JSON.stringify({
            outcome: 'escalate',
            tier: 2,
            mode: 'enforce',
            rule_ids: ['bench'],
            reasons: ['bench responder'],
            constraints: {},
            policy_version: 'bench',
            policy_digest: 'sha256:' + '0'.repeat(64),
            input_hash: 'sha256:' + '0'.repeat(64),
            trace_id: randomBytes(16).toString('hex'),
            evaluated_at: new Date().toISOString(),
          }),
        );
      }
    })();
    return 'bench responder (policy service did not answer policy.evaluate)';
  }
}

async function main() {
  lib.requireBuilt(...SERVICES);
  const env = {
    ...process.env,
    WARDEN_SUBJECT_PREFIX: prefix,
    DATABASE_URL: run.databaseUrl,
    WARDEN_KEYRING_SEED: randomBytes(32).toString('base64'),
    WARDEN_BOOTSTRAP_ADMIN_TOKEN: ADMIN,
    WARDEN_WORKSPACE: fs.mkdtempSync(path.join(os.tmpdir(), 'warden-bench-approvals-')),
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'error',
  };
  procs = await lib.startServices(SERVICES, { env, basePort: BASE_PORT });
  const nc = await connect({ servers: NATS_URL, name: 'warden-bench-approvals' });
  const js = jetstream(nc, { timeout: 10_000 });
  const recheck = await ensurePolicyResponder(nc);

  // runs awaiting approval: run_id -> approval_id
  const approvals = new Map();
  const queued = new Map(); // run_id -> resolve
  const reqSub = nc.subscribe(`${prefix}.events.run.*.approval_requested`);
  (async () => {
    for await (const m of reqSub) approvals.set(m.subject.split('.')[3], m.json().data.approval_id);
  })();
  const queuedSub = nc.subscribe(`${prefix}.events.run.*.run_queued`);
  (async () => {
    for await (const m of queuedSub) queued.get(m.subject.split('.')[3])?.();
  })();

  const total = PENDING + VOTES;
  console.log(`opening ${total} approvals (git.push, tier 2) …`);
  const runIds = [];
  for (let i = 0; i < total; i += 200) {
    const batch = [];
    for (let j = i; j < Math.min(total, i + 200); j++) {
      const runId = randomUUID();
      runIds.push(runId);
      const body = JSON.stringify({
        run_id: runId,
        agent: { id: `bench-agent-${j % 20}`, role: 'dev' },
        action: { tool: 'git.push', args: { remote: 'origin', branch: `bench-${j}` } },
      });
      batch.push(js.publish(`${prefix}.ingest.tasks`, body, { msgID: runId }));
    }
    await Promise.all(batch);
  }
  const deadline = Date.now() + 120_000;
  while (approvals.size < total) {
    if (Date.now() > deadline) throw new Error(`only ${approvals.size}/${total} approvals were requested`);
    await sleep(200);
  }
  // the approvals service has projected them all
  for (;;) {
    const page = await api('GET', `/v1/approvals/${approvals.get(runIds[runIds.length - 1])}`, ADMIN);
    if (page.status === 200) break;
    await sleep(100);
  }

  const op = await api('POST', '/v1/operators', ADMIN, { name: 'bench-approver', roles: ['approver'], max_tier: 3 });
  if (op.status !== 201) throw new Error(`cannot create an operator: ${op.status} ${JSON.stringify(op.body)}`);
  for (;;) {
    if ((await api('GET', '/v1/approvals?limit=1', op.body.token)).status === 200) break;
    await sleep(100);
  }

  const latencies = [];
  const httpLatencies = [];
  let failures = 0;
  const toVote = runIds.slice(0, VOTES);
  const voteOne = async (runId) => {
    const done = new Promise((resolve) => queued.set(runId, resolve));
    const t0 = performance.now();
    const r = await api('POST', `/v1/approvals/${approvals.get(runId)}/approve`, op.body.token, {});
    httpLatencies.push(performance.now() - t0);
    if (r.status !== 200 || r.body.status !== 'granted') {
      failures++;
      if (failures < 5) console.error('vote failed:', r.status, JSON.stringify(r.body).slice(0, 300));
      return;
    }
    const timeout = sleep(30_000).then(() => 'timeout');
    if ((await Promise.race([done, timeout])) === 'timeout') failures++;
    else latencies.push(performance.now() - t0);
  };
  // warm-up on the first 20
  const warm = toVote.splice(0, Math.min(20, toVote.length));
  for (const id of warm) await voteOne(id);
  latencies.length = 0;
  httpLatencies.length = 0;
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < toVote.length) await voteOne(toVote[next++]);
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  httpLatencies.sort((a, b) => a - b);
  const pendingNow = (await api('GET', '/v1/approvals?status=pending&limit=200', ADMIN)).body.items.length;

  const result = {
    benchmark: 'approvals',
    at: new Date().toISOString(),
    machine: { cpus: os.cpus().length, node: process.version },
    params: { pending: PENDING, votes: toVote.length, concurrency: CONCURRENCY },
    policy_recheck: recheck,
    vote_to_run_queued_ms: {
      p50: round(percentile(latencies, 50)),
      p95: round(percentile(latencies, 95)),
      p99: round(percentile(latencies, 99)),
      max: round(latencies[latencies.length - 1] ?? null),
    },
    vote_http_ms: { p50: round(percentile(httpLatencies, 50)), p99: round(percentile(httpLatencies, 99)) },
    votes_per_s: round(latencies.length / elapsed),
    failures,
    pending_open_at_end: `${pendingNow >= 200 ? '≥200 (page limit)' : pendingNow}`,
    target_p99_ms: 250,
  };
  lib.writeResults('approvals', result);
  console.log('');
  console.log('scenario                               p50 ms   p95 ms   p99 ms   votes/s  failures');
  const v = result.vote_to_run_queued_ms;
  console.log(
    `vote → run_queued (${PENDING} pending)`.padEnd(38) +
      [v.p50, v.p95, v.p99, result.votes_per_s, failures].map((x) => String(x).padStart(9)).join(''),
  );
  console.log(
    'vote HTTP answer (incl. re-check)'.padEnd(38) +
      [result.vote_http_ms.p50, '-', result.vote_http_ms.p99, '-', '-'].map((x) => String(x).padStart(9)).join(''),
  );
  console.log(`policy re-check answered by: ${recheck}`);

  await nc.close();
  await lib.stopServices(procs);
  await lib.cleanup(run);
  process.exit(failures > 0 ? 1 : 0);
}

main().catch(async (err) => {
  console.error(`bench failed: ${err.stack ?? err.message}`);
  await lib.stopServices(procs);
  await lib.cleanup(run);
  process.exit(1);
});
