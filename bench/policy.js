#!/usr/bin/env node
/*
 * Policy benchmark (needs `npm run build`):
 *  1. in-process decision latency (evaluate: rules, CEL, budgets, input hash) for the shipped default
 *     bundle and a generated 500-rule bundle (a third of the rules with CEL conditions), on one core;
 *  2. the Redis state round trip per decision (one atomic script: counters, history, bucket), alone
 *     and pipelined per batch of 64;
 *  3. POST /v1/evaluate round trip against a policy service started on its own prefix and database:
 *     closed loop, and open loop at --rate req/s (default 1000) for --duration s (default 10).
 *
 *   node bench/policy.js [--iterations 200000] [--rate 1000] [--duration 10]
 *
 * Writes bench/results/policy.json and prints a table.
 */
'use strict';
const { randomBytes, randomUUID } = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const lib = require('./lib');
const { ROOT, NATS_URL, REDIS_URL } = lib;

const DIST = path.join(ROOT, 'services', 'policy', 'dist');
const args = lib.parseArgs();
const ITERATIONS = Number(args.iterations ?? 200_000);
const RATE = Number(args.rate ?? 1000);
const DURATION_S = Number(args.duration ?? 10);

function stats(samplesNs) {
  const s = Float64Array.from(samplesNs).sort();
  const at = (p) => s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
  return { n: s.length, p50: at(50), p90: at(90), p99: at(99), max: s[s.length - 1] };
}
const us = (ns) => Math.round(ns / 10) / 100;
const ms = (ns) => Math.round(ns / 1e4) / 100;

function inputs(count, tools) {
  const out = [];
  for (let i = 0; i < count; i++) {
    const tool = tools[i % tools.length];
    out.push({
      agent: { id: `agent-${i % 17}`, role: tool.role },
      session_id: i % 3 ? `sess-${i % 101}` : null,
      action: { tool: tool.tool, args: { ...tool.args, n: i % 1000 } },
      usage: { tokens: 100 + (i % 50), cost_usd: 0.001 },
      session_usage:
        i % 3
          ? { calls: i % 300, tokens: (i % 300) * 120, cost_usd: 0.01, tools: { 'fs.read_file': 3 }, hosts: [] }
          : null,
      agent_usage: null,
      rate: null,
      failures: 0,
      standing: [],
    });
  }
  return out;
}

/** Latency of `evaluate` per call, and decisions/s for the whole loop (one core: this process). */
function measure(evaluate, policy, list) {
  const now = new Date();
  for (let i = 0; i < 20_000; i++) evaluate(policy, list[i % list.length], now); // warm up
  const samples = new Float64Array(ITERATIONS);
  const started = process.hrtime.bigint();
  for (let i = 0; i < ITERATIONS; i++) {
    const t0 = process.hrtime.bigint();
    evaluate(policy, list[i % list.length], now);
    samples[i] = Number(process.hrtime.bigint() - t0);
  }
  const total = Number(process.hrtime.bigint() - started);
  const st = stats(samples);
  return {
    p50_us: us(st.p50),
    p90_us: us(st.p90),
    p99_us: us(st.p99),
    max_us: us(st.max),
    decisions_per_s: Math.round(ITERATIONS / (total / 1e9)),
  };
}

function generated500(loadBundle) {
  const rules = [];
  for (let i = 0; i < 500; i++) {
    const rule = {
      id: `r${i}`,
      tools: [`svc${i % 100}.op${i}`],
      outcome: i % 11 === 0 ? 'deny' : i % 5 === 0 ? 'escalate' : 'allow',
      reason: `rule ${i}`,
    };
    if (rule.outcome === 'escalate') rule.tier = 2;
    if (i % 3 === 0) rule.if = `has(args.n) && args.n > ${i % 1000}.0 && session.calls < 250.0`;
    if (i % 25 === 0) rule.tools.push(`svc${i % 100}.*`);
    rules.push(rule);
  }
  return loadBundle({
    version: 'bench-500',
    tiers: { 1: { required_votes: 0 }, 2: { required_votes: 1 }, 3: { required_votes: 2 } },
    budgets: { session: { max_calls: 500, max_tokens: 1000000 } },
    roles: { dev: { tools: ['svc*'] } },
    rules,
  });
}

async function redisRoundTrip() {
  const { PolicyStateStore } = require('@warden/policy-service/policy-state-store');
  const { createRedis } = require('@warden/persistence');
  const redis = createRedis(REDIS_URL, 'bench-policy');
  const prefix = `benchp${randomBytes(3).toString('hex')}`;
  const store = new PolicyStateStore(redis, { WARDEN_SUBJECT_PREFIX: prefix });
  const req = (i) => ({
    runId: randomUUID(),
    sessionId: `s${i % 50}`,
    agentId: `a${i % 10}`,
    tool: 'fs.read_file',
    tokens: 10,
    costUsd: 0.001,
    host: '',
    fingerprint: 'fp',
    rate: { id: 'r', capacity: 1e6, per: 60 },
    trackAgent: true,
    sessionTtl: 600,
    agentTtl: 600,
  });
  for (let i = 0; i < 500; i++) await store.recordAll([req(i)]);
  const single = [];
  for (let i = 0; i < 3000; i++) {
    const t0 = process.hrtime.bigint();
    await store.recordAll([req(i)]);
    single.push(Number(process.hrtime.bigint() - t0));
  }
  const batch = [];
  for (let i = 0; i < 200; i++) {
    const reqs = Array.from({ length: 64 }, (_, k) => req(i * 64 + k));
    const t0 = process.hrtime.bigint();
    await store.recordAll(reqs);
    batch.push(Number(process.hrtime.bigint() - t0) / 64);
  }
  const keys = await redis.keys(`${prefix}:*`);
  for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
  redis.disconnect();
  const s = stats(single);
  const b = stats(batch);
  return {
    single_p50_ms: ms(s.p50),
    single_p99_ms: ms(s.p99),
    per_decision_in_batch_of_64_p50_ms: ms(b.p50),
    per_decision_in_batch_of_64_p99_ms: ms(b.p99),
  };
}

async function httpRoundTrip() {
  const run = lib.privateRun('benchpol');
  const token = `bench-admin-${randomBytes(12).toString('hex')}`;
  const env = {
    ...process.env,
    NATS_URL,
    REDIS_URL,
    DATABASE_URL: run.databaseUrl,
    WARDEN_SUBJECT_PREFIX: run.prefix,
    WARDEN_KEYRING_SEED: randomBytes(32).toString('base64'),
    WARDEN_BOOTSTRAP_ADMIN_TOKEN: token,
    LOG_LEVEL: 'error',
  };
  let procs = [];
  try {
    procs = await lib.startServices(['policy'], { env, basePort: 17902, logFilter: /./, readyTimeoutMs: 30_000 });
    const base = procs[0].url;
    const body = (i) =>
      JSON.stringify({
        agent: { id: `agent-${i % 17}`, role: 'dev' },
        session_id: `sess-${i % 31}`,
        action: { tool: i % 2 ? 'fs.read_file' : 'git.push', args: { path: `src/f${i % 100}.ts`, branch: 'x' } },
        usage: { tokens: 100 },
      });
    const one = async (i) => {
      const t0 = process.hrtime.bigint();
      const r = await fetch(`${base}/v1/evaluate`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: body(i),
      });
      await r.arrayBuffer();
      if (r.status !== 200) throw new Error(`evaluate answered ${r.status}`);
      return Number(process.hrtime.bigint() - t0);
    };
    for (let i = 0; i < 500; i++) await one(i); // warm up
    const closed = [];
    for (let i = 0; i < 3000; i++) closed.push(await one(i));
    // open loop: requests started on a fixed schedule, latency measured from each one's start
    const open = [];
    const total = RATE * DURATION_S;
    const started = Date.now();
    const inflight = [];
    for (let i = 0; i < total; i++) {
      const due = started + (i * 1000) / RATE;
      const wait = due - Date.now();
      if (wait > 1) await lib.sleep(wait);
      inflight.push(one(i).then((ns) => open.push(ns)));
    }
    await Promise.all(inflight);
    const achieved = Math.round(total / ((Date.now() - started) / 1000));
    const c = stats(closed);
    const o = stats(open);
    return {
      closed_loop: { requests: c.n, p50_ms: ms(c.p50), p99_ms: ms(c.p99) },
      open_loop: {
        target_rps: RATE,
        achieved_rps: achieved,
        requests: o.n,
        p50_ms: ms(o.p50),
        p90_ms: ms(o.p90),
        p99_ms: ms(o.p99),
        max_ms: ms(o.max),
      },
    };
  } finally {
    await lib.stopServices(procs);
    await lib.cleanup(run, [`KV_${run.prefix.toUpperCase()}_POLICY`]);
  }
}

async function main() {
  if (!fs.existsSync(path.join(DIST, 'main.js'))) throw new Error('build first: npm run build');
  const { parseBundle, loadBundle, evaluate } = require('@warden/policy-language');
  const def = parseBundle(fs.readFileSync(path.join(ROOT, 'deploy', 'policies', 'default.yaml'), 'utf8'));
  const defaultInputs = inputs(1000, [
    { role: 'dev', tool: 'fs.read_file', args: { path: 'src/a.ts' } },
    { role: 'dev', tool: 'fs.write_file', args: { path: 'a/../prod/x.yaml', content: 'x' } },
    { role: 'dev', tool: 'git.push', args: { branch: 'feature/x' } },
    { role: 'dev', tool: 'git.push', args: { flags: ['--force'] } },
    { role: 'outreach', tool: 'email.send', args: { to: 'a@example.com' } },
    { role: 'research', tool: 'http.get', args: { url: 'https://github.com/x' } },
    { role: 'dev', tool: 'secrets.read', args: {} },
    { role: 'dev', tool: 'rm.rf', args: {} },
  ]);
  const big = generated500(loadBundle);
  const bigInputs = inputs(
    1000,
    Array.from({ length: 600 }, (_, i) => ({
      role: 'dev',
      tool: `svc${i % 100}.op${i}`,
      args: { path: `src/f${i}.ts` },
    })),
  );
  const inProcess = {
    default_bundle: { rules: def.bundle.rules.length, ...measure(evaluate, def, defaultInputs) },
    generated_500_rules: {
      rules: big.bundle.rules.length,
      cel_rules: big.bundle.rules.filter((r) => r.if).length,
      ...measure(evaluate, big, bigInputs),
    },
  };
  const redis = await redisRoundTrip();
  const http = await httpRoundTrip();
  const result = {
    at: new Date().toISOString(),
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version },
    iterations: ITERATIONS,
    in_process: inProcess,
    redis_state_round_trip: redis,
    http_evaluate: http,
    targets: { in_process_500_rules_p99_us: 50, redis_round_trip_ms: 0.1, http_p99_ms_at_1000_rps: 5 },
  };
  const written = lib.writeResults('policy', result);
  const rows = [
    [
      'in process, default bundle',
      `${inProcess.default_bundle.p50_us} µs`,
      `${inProcess.default_bundle.p99_us} µs`,
      `${inProcess.default_bundle.decisions_per_s}/s`,
    ],
    [
      'in process, 500 rules',
      `${inProcess.generated_500_rules.p50_us} µs`,
      `${inProcess.generated_500_rules.p99_us} µs`,
      `${inProcess.generated_500_rules.decisions_per_s}/s`,
    ],
    ['Redis state, one decision', `${redis.single_p50_ms} ms`, `${redis.single_p99_ms} ms`, ''],
    [
      'Redis state, per decision in a batch of 64',
      `${redis.per_decision_in_batch_of_64_p50_ms} ms`,
      `${redis.per_decision_in_batch_of_64_p99_ms} ms`,
      '',
    ],
    ['POST /v1/evaluate, closed loop', `${http.closed_loop.p50_ms} ms`, `${http.closed_loop.p99_ms} ms`, ''],
    [
      `POST /v1/evaluate, open loop ${RATE}/s`,
      `${http.open_loop.p50_ms} ms`,
      `${http.open_loop.p99_ms} ms`,
      `${http.open_loop.achieved_rps}/s`,
    ],
  ];
  const w = [46, 12, 12, 12];
  const line = (r) => r.map((c, i) => String(c).padEnd(w[i])).join(' ');
  console.log(line(['policy', 'p50', 'p99', 'throughput']));
  for (const r of rows) console.log(line(r));
  console.log(`wrote ${written}`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
