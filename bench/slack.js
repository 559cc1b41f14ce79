#!/usr/bin/env node
/*
 * Slack benchmark: the time from an `approval_requested` event (JetStream publish) to the Slack message
 * being posted (the `chat.postMessage` call arriving at a local fake Slack Web API), p50/p99, with
 * --pending (default 1000) approvals already open and posted. Also reports how fast the backlog of
 * --pending posts drains when they all arrive at once.
 *
 * Starts the approvals service (built dist) as a child process on a private subject prefix and
 * database, with SLACK_API_URL pointing at the fake. Every `approval_requested` is published the way
 * the orchestrator does (one event per approval, Nats-Msg-Id = event id).
 *
 *   npm run build && node bench/slack.js [--pending 1000] [--measured 300] [--rate 20]
 *
 * Writes bench/results/slack.json and prints a table.
 */
'use strict';
const { randomBytes, randomUUID } = require('node:crypto');
const http = require('node:http');
const { connect, headers: natsHeaders } = require('@nats-io/transport-node');
const { jetstream } = require('@nats-io/jetstream');
const lib = require('./lib');
const { loadKeyring } = require('@warden/kernel');
const { EventAuthenticity } = require('@warden/bus');

// approvals takes only signed events: the benchmark signs its approval_requested as the orchestrator would,
// with the orchestrator's key from the run's development keyring
const KEYRING_SEED = randomBytes(32).toString('base64');
const asOrchestrator = new EventAuthenticity(loadKeyring({ self: 'orchestrator', keyringSeed: KEYRING_SEED }, []));
const { NATS_URL, sleep, percentile, round } = lib;

const args = lib.parseArgs();
const PENDING = Number(args.pending ?? 1000);
const MEASURED = Number(args.measured ?? 300);
const RATE = Number(args.rate ?? 20);
const run = lib.privateRun('benchs');
const { prefix } = run;
const PORT = 17951;
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/** A fake Slack Web API: notes when the post of each approval arrives. */
function fakeSlack(onPost) {
  let seq = 0;
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const at = performance.now();
      const body = decodeURIComponent(Buffer.concat(chunks).toString('utf8').replace(/\+/g, ' '));
      const method = (req.url || '').replace(/^\/api\//, '');
      if (method === 'chat.postMessage') for (const id of new Set(body.match(UUID) || [])) onPost(id, at);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: true, channel: 'C_BENCH', ts: `${Math.floor(Date.now() / 1000)}.${++seq}` }));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function approvalRequested(approvalId) {
  const runId = randomUUID();
  const traceId = randomBytes(16).toString('hex');
  const id = randomUUID();
  return {
    subject: `${prefix}.events.run.${runId}.approval_requested`,
    id,
    env: {
      id,
      type: 'approval_requested',
      version: 1,
      run_id: runId,
      occurred_at: new Date().toISOString(),
      producer: 'orchestrator',
      correlation_id: runId,
      causation_id: null,
      trace_id: traceId,
      data: {
        approval_id: approvalId,
        tier: 2,
        required_votes: 1,
        expires_at: new Date(Date.now() + 24 * 3600_000).toISOString(),
        agent: { id: 'bench-agent', role: 'dev' },
        session_id: 'bench',
        action: { tool: 'git.push', args: { remote: 'origin', branch: 'main' } },
        decision: {
          outcome: 'escalate',
          tier: 2,
          mode: 'enforce',
          rule_ids: ['git-push'],
          reasons: ['pushing needs an approver'],
          constraints: {},
          policy_version: 'bench',
          policy_digest: 'sha256:' + '0'.repeat(64),
          input_hash: 'sha256:' + '0'.repeat(64),
          trace_id: traceId,
          evaluated_at: new Date().toISOString(),
        },
      },
    },
  };
}

async function main() {
  lib.requireBuilt('approvals');
  const posted = new Map(); // approval id -> time the post arrived
  const server = await fakeSlack((id, at) => {
    if (!posted.has(id)) posted.set(id, at);
  });
  const env = {
    ...process.env,
    WARDEN_SUBJECT_PREFIX: prefix,
    DATABASE_URL: run.databaseUrl,
    WARDEN_KEYRING_SEED: KEYRING_SEED,
    SLACK_API_URL: `http://127.0.0.1:${server.address().port}/api/`,
    SLACK_BOT_TOKEN: 'xoxb-bench',
    SLACK_APPROVALS_CHANNEL: 'C_BENCH',
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'error',
  };
  let procs = [];
  const nc = await connect({ servers: NATS_URL, name: 'warden-bench-slack' });
  try {
    procs = await lib.startServices(['approvals'], { env, basePort: PORT });
    const js = jetstream(nc, { timeout: 10_000 });
    const publish = (m) => {
      const h = natsHeaders();
      h.set('Warden-Event-Type', 'approval_requested');
      return js.publish(m.subject, JSON.stringify(asOrchestrator.seal(m.env)), { msgID: m.id, headers: h });
    };

    // 1. the backlog: PENDING approvals at once
    const backlog = Array.from({ length: PENDING }, () => approvalRequested(randomUUID()));
    const t0 = performance.now();
    for (let i = 0; i < backlog.length; i += 200) await Promise.all(backlog.slice(i, i + 200).map(publish));
    const waitAll = async (ids, timeoutMs) => {
      const end = Date.now() + timeoutMs;
      while (ids.some((id) => !posted.has(id))) {
        if (Date.now() > end) throw new Error(`only ${ids.filter((id) => posted.has(id)).length}/${ids.length} posted`);
        await sleep(20);
      }
    };
    await waitAll(
      backlog.map((b) => b.env.data.approval_id),
      180_000,
    );
    const drainMs = performance.now() - t0;

    // 2. measured: one approval at a time, open-loop at RATE/s, with PENDING open
    const latencies = [];
    const sent = [];
    const interval = 1000 / RATE;
    const start = performance.now();
    for (let i = 0; i < MEASURED; i++) {
      const due = start + i * interval;
      const now = performance.now();
      if (due > now) await sleep(due - now);
      const m = approvalRequested(randomUUID());
      const at = performance.now();
      sent.push({ id: m.env.data.approval_id, at });
      void publish(m);
    }
    await waitAll(
      sent.map((s) => s.id),
      60_000,
    );
    for (const s of sent) latencies.push(posted.get(s.id) - s.at);
    latencies.sort((a, b) => a - b);
    const result = {
      benchmark: 'slack',
      measured: 'approval_requested published -> chat.postMessage received by the Slack API',
      date: new Date().toISOString(),
      pending_open: PENDING,
      backlog_drain: { posts: PENDING, ms: round(drainMs), posts_per_s: round((PENDING / drainMs) * 1000) },
      open_loop: {
        rate_per_s: RATE,
        samples: latencies.length,
        p50_ms: round(percentile(latencies, 50)),
        p99_ms: round(percentile(latencies, 99)),
        max_ms: round(latencies[latencies.length - 1] ?? null),
      },
      target_p99_ms: 250,
    };
    const written = lib.writeResults('slack', result);
    console.log(`Slack: approval_requested -> chat.postMessage (${PENDING} approvals open)\n`);
    console.log('| scenario | samples | p50 ms | p99 ms | max ms |');
    console.log('|---|---|---|---|---|');
    console.log(
      `| open loop ${RATE}/s | ${result.open_loop.samples} | ${result.open_loop.p50_ms} | ${result.open_loop.p99_ms} | ${result.open_loop.max_ms} |`,
    );
    console.log(
      `\nbacklog of ${PENDING} posted in ${result.backlog_drain.ms} ms (${result.backlog_drain.posts_per_s} posts/s)`,
    );
    console.log(`wrote ${written}`);
  } finally {
    await lib.stopServices(procs);
    server.close();
    await nc.close();
    await lib.cleanup(run);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
