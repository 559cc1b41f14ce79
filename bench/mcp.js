#!/usr/bin/env node
/*
 * MCP gateway benchmark: the round trip of an MCP `tools/call` for an allowed `fs.read_file` through
 * the gateway (`/mcp` on ingest: proposal → policy → orchestrator → sandboxed worker → result), with
 * the official SDK client, open loop at each rate (calls are started on schedule whatever the answers
 * do), p50/p99 per rate.
 *
 * Starts ingest, policy, orchestrator and workers (built dist) as child processes on a private subject
 * prefix and database, creates an API key bound to a research agent, and spreads calls over --clients
 * MCP sessions.
 *
 *   node bench/mcp.js [--rates 1,50,200] [--duration 10] [--clients 8]
 *
 * Writes bench/results/mcp.json and prints a table.
 */
'use strict';
const { randomBytes } = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Client } = require('@modelcontextprotocol/sdk/client/index.js');
const { StreamableHTTPClientTransport } = require('@modelcontextprotocol/sdk/client/streamableHttp.js');
const lib = require('./lib');
const { sleep, percentile, round } = lib;

const args = lib.parseArgs();
const RATES = String(args.rates ?? '1,50,200')
  .split(',')
  .map(Number);
const DURATION_S = Number(args.duration ?? 10);
const CLIENTS = Number(args.clients ?? 8);
const run = lib.privateRun('benchm');
const SERVICES = ['ingest', 'policy', 'orchestrator', 'workers'];
const BASE_PORT = 18101;
const ADMIN = `bench-admin-${randomBytes(12).toString('hex')}`;
const ingestUrl = `http://127.0.0.1:${BASE_PORT}`;

let procs = [];

async function createKey() {
  const r = await fetch(`${ingestUrl}/v1/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'bench-mcp', owner: 'bench', agent: { id: 'bench-mcp', role: 'research' } }),
  });
  if (r.status !== 201) throw new Error(`POST /v1/keys answered ${r.status}: ${await r.text()}`);
  const { key } = await r.json();
  for (let i = 0; i < 100; i++) {
    const probe = await fetch(`${ingestUrl}/mcp`, { method: 'GET', headers: { authorization: `Bearer ${key}` } });
    if (probe.status !== 401) return key;
    await sleep(50);
  }
  throw new Error('the new key never became known');
}

async function connect(key) {
  const transport = new StreamableHTTPClientTransport(new URL(`${ingestUrl}/mcp`), {
    requestInit: { headers: { authorization: `Bearer ${key}` } },
  });
  const client = new Client({ name: 'warden-bench', version: '1.0.0' });
  await client.connect(transport);
  return client;
}

/** Calls at `rate` per second for DURATION_S, open loop; latencies of the calls that succeeded. */
async function measure(clients, rate) {
  const total = Math.max(1, Math.round(rate * DURATION_S));
  const latencies = [];
  let errors = 0;
  const started = Date.now();
  const calls = [];
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait);
    const client = clients[i % clients.length];
    const t0 = performance.now();
    calls.push(
      client
        .callTool({ name: 'fs.read_file', arguments: { path: 'bench.txt' } }, undefined, { timeout: 120_000 })
        .then((r) => {
          if (r.isError || r._meta?.['warden/run']?.status !== 'succeeded') errors++;
          else latencies.push(performance.now() - t0);
        })
        .catch(() => errors++),
    );
  }
  await Promise.all(calls);
  const elapsed = (Date.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    rate,
    calls: total,
    ok: latencies.length,
    errors,
    achieved_per_s: round(latencies.length / elapsed),
    p50_ms: round(percentile(latencies, 50)),
    p99_ms: round(percentile(latencies, 99)),
    max_ms: round(latencies[latencies.length - 1] ?? null),
  };
}

async function main() {
  lib.requireBuilt(...SERVICES);
  const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-bench-mcp-'));
  fs.writeFileSync(path.join(workspace, 'bench.txt'), 'hello from the MCP benchmark\n');
  const env = {
    ...process.env,
    WARDEN_SUBJECT_PREFIX: run.prefix,
    DATABASE_URL: run.databaseUrl,
    WARDEN_KEYRING_SEED: randomBytes(32).toString('base64'),
    WARDEN_BOOTSTRAP_ADMIN_TOKEN: ADMIN,
    WARDEN_WORKSPACE: workspace,
    INGEST_RATE_LIMIT_PER_SEC: '100000',
    INGEST_RATE_LIMIT_BURST: '100000',
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'error',
  };
  procs = await lib.startServices(SERVICES, { env, basePort: BASE_PORT });
  const key = await createKey();
  const clients = [];
  for (let i = 0; i < CLIENTS; i++) clients.push(await connect(key));
  // warm up: sandboxes started, consumers created, connections pooled
  for (let i = 0; i < 5; i++) await measure(clients.slice(0, 1), 5);
  const results = [];
  for (const rate of RATES) {
    const r = await measure(clients, rate);
    results.push(r);
    console.log(`rate ${rate}/s: p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms, ${r.ok}/${r.calls} ok`);
  }
  for (const c of clients) await c.close().catch(() => undefined);
  console.log(
    `\n${lib.table([
      ['rate/s', 'calls', 'ok', 'errors', 'achieved/s', 'p50 ms', 'p99 ms', 'max ms'],
      ...results.map((r) => [r.rate, r.calls, r.ok, r.errors, r.achieved_per_s, r.p50_ms, r.p99_ms, r.max_ms]),
    ])}`,
  );
  const file = lib.writeResults('mcp', {
    benchmark: 'MCP tools/call round trip, allowed fs.read_file through the gateway (open loop)',
    at: new Date().toISOString(),
    machine: { cpus: os.cpus().length, node: process.version },
    duration_s: DURATION_S,
    clients: CLIENTS,
    results,
  });
  console.log(`results: ${file}`);
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(async () => {
    await lib.stopServices(procs);
    await lib.cleanup(run);
  });
