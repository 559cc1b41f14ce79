#!/usr/bin/env node
/*
 * @warden/client benchmark: what the typed client costs over raw HTTP, measured in the same run.
 *
 * Each iteration proposes an allowed `fs.read_file` and waits until the run is terminal, three ways,
 * interleaved (so the machine's load falls on each alike), closed loop, one call at a time:
 *   client    `client.propose(…)` then `run.outcome()` (SSE under the hood, retries, typed errors)
 *   raw SSE   `fetch` POST /v1/tasks, then `fetch` GET /v1/runs/:id/stream read until `event: end`
 *             (the same wait, without the client)
 *   raw poll  `fetch` POST /v1/tasks, then GET /v1/runs/:id every --poll-ms (what integrators did
 *             before the stream; the CLI's `submit --wait` polls every 500 ms)
 * plus, for bring your own executor, `client.guard('git.status', fn)` (propose → grant → fn → report →
 * settled). Prints p50/p99/mean of each and the client's ratio to raw SSE (p50 and mean).
 *
 *   node bench/client.js [--calls 200] [--poll-ms 50]
 *
 * Starts ingest, policy, orchestrator and workers (built dist) on a private subject prefix and database.
 * Writes bench/results/client.json.
 */
'use strict';
const { randomBytes, randomUUID } = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const lib = require('./lib');
const { sleep, percentile, round } = lib;

const args = lib.parseArgs();
const CALLS = Number(args.calls ?? 200);
const POLL_MS = Number(args['poll-ms'] ?? 50);
const run = lib.privateRun('benchc');
const SERVICES = ['ingest', 'policy', 'orchestrator', 'workers'];
const BASE_PORT = 18201;
const ADMIN = `bench-admin-${randomBytes(12).toString('hex')}`;
const ingestUrl = `http://127.0.0.1:${BASE_PORT}`;
const orchestratorUrl = `http://127.0.0.1:${BASE_PORT + SERVICES.indexOf('orchestrator')}`;
const AGENT = { id: 'bench-client', role: 'dev' };
const TERMINAL = new Set(['succeeded', 'failed', 'denied', 'rejected', 'expired', 'cancelled']);

let procs = [];

const createKey = () =>
  // the orchestrator's directory must know it too (it serves the stream)
  lib.createKey({ ingestUrl, adminToken: ADMIN, name: 'bench-client', agent: AGENT }, async (key) => {
    const probe = await fetch(`${orchestratorUrl}/v1/runs/${randomUUID()}/stream`, {
      headers: { authorization: `Bearer ${key}` },
      signal: AbortSignal.timeout(200),
    }).catch(() => undefined);
    return probe === undefined || probe.status !== 401;
  });

const submission = () => ({
  idempotency_key: randomUUID(),
  agent: AGENT,
  // a session per call: a shared one would hit the session budgets and loop rules, not measure the client
  session_id: `bench-${randomUUID()}`,
  action: { tool: 'fs.read_file', args: { path: 'hello.txt' } },
});

/** POST /v1/tasks with fetch; the run id. */
async function rawPropose(key) {
  const r = await fetch(`${ingestUrl}/v1/tasks`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(submission()),
  });
  if (r.status !== 202) throw new Error(`POST /v1/tasks answered ${r.status}`);
  return (await r.json()).run_id;
}

/** The raw wait on the same stream: read until `event: end`, then the terminal status. */
async function rawSse(key) {
  const runId = await rawPropose(key);
  const ac = new AbortController();
  const r = await fetch(`${orchestratorUrl}/v1/runs/${runId}/stream`, {
    headers: { authorization: `Bearer ${key}`, accept: 'text/event-stream' },
    signal: ac.signal,
  });
  if (r.status !== 200) throw new Error(`stream answered ${r.status}`);
  const decoder = new TextDecoder();
  let text = '';
  try {
    for await (const chunk of r.body) {
      text += decoder.decode(chunk, { stream: true });
      const at = text.indexOf('event: end\ndata: ');
      if (at >= 0 && text.indexOf('\n\n', at) > 0) {
        const line = text.slice(at + 'event: end\ndata: '.length, text.indexOf('\n\n', at));
        return JSON.parse(line).status;
      }
    }
  } finally {
    ac.abort();
  }
  throw new Error('stream ended without end');
}

/** The old way: poll GET /v1/runs/:id (operator token) until terminal. */
async function rawPoll(key) {
  const runId = await rawPropose(key);
  for (;;) {
    const r = await fetch(`${orchestratorUrl}/v1/runs/${runId}`, { headers: { authorization: `Bearer ${ADMIN}` } });
    if (r.status === 200) {
      const { status } = await r.json();
      if (TERMINAL.has(status)) return status;
    }
    await sleep(POLL_MS);
  }
}

/** One call's duration and terminal status; a call still waiting after 60 s counts as an error. */
async function timed(fn) {
  const t0 = process.hrtime.bigint();
  let timer;
  const status = await Promise.race([
    fn(),
    new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('no terminal status after 60 s')), 60_000))),
  ]).finally(() => clearTimeout(timer));
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, status };
}

function summary(samples, expected) {
  const ok = samples.filter((s) => s.status === expected).map((s) => s.ms);
  const sorted = [...ok].sort((a, b) => a - b);
  return {
    calls: samples.length,
    ok: ok.length,
    p50_ms: round(percentile(sorted, 50)),
    p99_ms: round(percentile(sorted, 99)),
    mean_ms: round(ok.reduce((a, b) => a + b, 0) / Math.max(1, ok.length)),
  };
}

async function main() {
  lib.requireBuilt(...SERVICES);
  if (!fs.existsSync(path.join(lib.ROOT, 'libs', 'client', 'dist', 'index.js')))
    throw new Error('build first: npm run build');
  const { WardenClient } = require('@warden/client');
  const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-bench-client-'));
  fs.writeFileSync(path.join(workspace, 'hello.txt'), 'hello, bench\n');
  const env = lib.serviceEnv(run, ADMIN, { WARDEN_WORKSPACE: workspace });
  procs = await lib.startServicesWarn(SERVICES, { env, basePort: BASE_PORT });
  const key = await createKey();
  const client = new WardenClient({ baseUrl: ingestUrl, orchestratorUrl, apiKey: key, agent: AGENT });
  const viaClient = async () => {
    const r = await client.propose({
      tool: 'fs.read_file',
      args: { path: 'hello.txt' },
      session: `bench-${randomUUID()}`,
    });
    return (await r.outcome()).status;
  };
  const guarded = client.guard('git.status', async () => ({ clean: true }));
  const viaGuard = async () =>
    (await guarded({}, { session: `bench-${randomUUID()}` })).clean ? 'succeeded' : 'failed';
  const modes = { client: viaClient, raw_sse: () => rawSse(key), raw_poll: () => rawPoll(key), guard: viaGuard };

  console.log('services ready; warming up');
  for (let i = 0; i < 5; i++) for (const fn of Object.values(modes)) await timed(fn);
  const samples = Object.fromEntries(Object.keys(modes).map((m) => [m, []]));
  for (let i = 0; i < CALLS; i++) {
    if (i && i % 10 === 0) console.log(`${i}/${CALLS} (load average ${os.loadavg().map(round).join(' ')})`);
    for (const [name, fn] of Object.entries(modes)) {
      try {
        samples[name].push(await timed(fn));
      } catch (err) {
        samples[name].push({ ms: 0, status: `error: ${err.message}` });
      }
    }
  }
  const res = Object.fromEntries(Object.entries(samples).map(([m, s]) => [m, summary(s, 'succeeded')]));
  const ratio = {
    p50: Math.round((res.client.p50_ms / res.raw_sse.p50_ms) * 100) / 100,
    mean: Math.round((res.client.mean_ms / res.raw_sse.mean_ms) * 100) / 100,
  };
  const added = {
    p50_ms: round(res.client.p50_ms - res.raw_sse.p50_ms),
    mean_ms: round(res.client.mean_ms - res.raw_sse.mean_ms),
  };
  console.log(
    `\nallowed fs.read_file, propose + wait for the terminal status, one call at a time (${CALLS} each, interleaved)\n${lib.table(
      [
        ['path', 'ok', 'p50 ms', 'p99 ms', 'mean ms'],
        ...[
          ['@warden/client', res.client],
          ['raw fetch + SSE', res.raw_sse],
          [`raw fetch + poll ${POLL_MS} ms`, res.raw_poll],
          ['client.guard (BYO, git.status)', res.guard],
        ].map(([n, r]) => [n, `${r.ok}/${r.calls}`, r.p50_ms, r.p99_ms, r.mean_ms]),
      ],
    )}\nclient / raw SSE: ${ratio.p50}× at p50 (+${added.p50_ms} ms), ${ratio.mean}× mean (+${added.mean_ms} ms)`,
  );
  for (const [m, s] of Object.entries(samples)) {
    const errors = s.filter((x) => x.status !== 'succeeded');
    if (errors.length) console.log(`  ${m}: ${errors.length} not succeeded, e.g. ${errors[0].status}`);
  }
  const file = lib.writeResults('client', {
    benchmark:
      '@warden/client propose + outcome vs raw fetch POST /v1/tasks + the same SSE wait (and a 50 ms poll, and client.guard BYO), closed loop, interleaved',
    at: new Date().toISOString(),
    machine: { cpus: os.cpus().length, node: process.version, loadavg_at_start: os.loadavg().map(round) },
    calls: CALLS,
    poll_ms: POLL_MS,
    results: res,
    client_over_raw_sse: { ratio, added },
  });
  console.log(`results: ${file}`);
  if (Object.values(res).some((r) => r.ok < r.calls)) process.exitCode = 1;
}

lib.runMain(main, { procs: () => procs, run });
