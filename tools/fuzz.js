#!/usr/bin/env node
'use strict';
/**
 * `npm run fuzz [-- --duration 300 --concurrency 16]`: a long fuzz campaign against all five services,
 * started locally as processes (built dist, a private subject prefix and database, removed afterwards).
 * Hostile requests on every route of every service's OpenAPI document (tools/fuzz/requests.js), fuzzed
 * submissions over HTTP, signed webhooks and the bus, and raw-socket probes (an early 413 followed by a
 * second request on the same connection). At the end every run ingest accepted must be in the
 * orchestrator at a terminal status (or awaiting people). Prints, and writes var/fuzz-results.json:
 * requests, 2xx/4xx/5xx, hangs, resets, malformed problems and lost runs. Exit 1 on any 5xx, hang,
 * malformed problem or lost run.
 */
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { randomBytes, randomUUID, createHmac } = require('node:crypto');
const fc = require('fast-check');
const lib = require('../bench/lib');
const { requestsFor, submission, send, serialise } = require('./fuzz/requests');

const args = lib.parseArgs();
const DURATION_S = Number(args.duration ?? 300);
const CONCURRENCY = Number(args.concurrency ?? 16);
const SERVICES = ['ingest', 'policy', 'orchestrator', 'approvals', 'workers'];
const TERMINAL = new Set(['succeeded', 'failed', 'denied', 'rejected', 'expired', 'cancelled', 'awaiting_approval']);
const ADMIN = `fuzz-admin-${randomBytes(12).toString('hex')}`;

const counts = { requests: 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0, hangs: 0, resets: 0, badProblems: 0 };
const perService = Object.fromEntries(SERVICES.map((s) => [s, { requests: 0, '4xx': 0, '5xx': 0, hangs: 0 }]));
const failures = [];
const accepted = new Set();
const busRunIds = new Set();

function record(service, req, a) {
  counts.requests++;
  perService[service].requests++;
  if (a.verdict === 'hang') {
    counts.hangs++;
    perService[service].hangs++;
  } else if (a.verdict === 'reset') counts.resets++;
  else counts[`${String(a.status)[0]}xx`] = (counts[`${String(a.status)[0]}xx`] ?? 0) + 1;
  if (a.status >= 400 && a.status < 500) perService[service]['4xx']++;
  if (a.status >= 500) perService[service]['5xx']++;
  if (a.verdict === 'bad-problem') counts.badProblems++;
  if (a.verdict !== 'ok' && a.verdict !== 'reset' && failures.length < 50)
    failures.push(
      `${service} ${a.verdict} ${a.status} ${req.method} ${req.path.slice(0, 120)}: ${(a.text ?? '').slice(0, 160)}`,
    );
  if (a.status === 202 && a.json?.run_id) accepted.add(a.json.run_id);
}

/** Signs a Standard Webhooks delivery (`whsec_<base64>`). */
function signWebhook(secret, id, ts, body) {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest('base64')}`;
}

/** An early 413 on PUT /v1/policy, then a second request on the same socket: answered or closed, never stalled. */
function probe413(url) {
  return new Promise((resolve) => {
    const u = new URL(url);
    const sock = net.connect(Number(u.port), u.hostname);
    let data = '';
    const timer = setTimeout(() => {
      sock.destroy();
      resolve('hang');
    }, 8_000);
    sock.on('data', (d) => (data += String(d)));
    sock.on('error', () => undefined);
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(/^HTTP\/1\.1 413/.test(data) ? 'ok' : `unexpected: ${data.slice(0, 60)}`);
    });
    sock.write(
      `PUT /v1/policy HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN}\r\nContent-Type: application/yaml\r\nContent-Length: ${4 << 20}\r\n\r\nversion: 1\n`,
    );
    setTimeout(() => sock.write('GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n'), 50);
  });
}

async function main() {
  lib.requireBuilt(...SERVICES);
  const run = lib.privateRun('fuzz');
  const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-fuzz-'));
  // the keyring the built services expect: one development seed, or the single signing key
  const keyring = fs
    .readFileSync(path.join(lib.ROOT, 'libs/runtime/dist/config.js'), 'utf8')
    .includes('WARDEN_KEYRING_SEED')
    ? { WARDEN_KEYRING_SEED: randomBytes(32).toString('base64') }
    : { WARDEN_SIGNING_KEY: randomBytes(32).toString('base64') };
  const env = {
    ...process.env,
    ...keyring,
    WARDEN_SUBJECT_PREFIX: run.prefix,
    DATABASE_URL: run.databaseUrl,
    WARDEN_WORKSPACE: workspace,
    WARDEN_BOOTSTRAP_ADMIN_TOKEN: ADMIN,
    WARDEN_SECRETS_KEY: randomBytes(32).toString('base64'),
    INGEST_RATE_LIMIT_PER_SEC: '100000',
    INGEST_RATE_LIMIT_BURST: '100000',
    SLACK_SIGNING_SECRET: `fuzz-${randomUUID()}`,
    LOG_LEVEL: process.env.FUZZ_LOG_LEVEL ?? 'error',
  };
  console.log(`fuzz: starting the five services (prefix ${run.prefix}); ${DURATION_S} s at concurrency ${CONCURRENCY}`);
  const procs = await lib.startServices(SERVICES, { env, basePort: 17901, logFilter: /ERROR/, readyTimeoutMs: 60_000 });
  const url = Object.fromEntries(procs.map((p) => [p.name, p.url]));
  const { connect } = require('@nats-io/transport-node');
  const { jetstream } = require('@nats-io/jetstream');
  const nc = await connect({ servers: lib.NATS_URL, name: 'warden-fuzz' });
  const js = jetstream(nc, { timeout: 10_000 });
  let exitCode = 1;
  try {
    const admin = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
    const key = await (
      await fetch(`${url.ingest}/v1/keys`, {
        method: 'POST',
        headers: admin,
        body: JSON.stringify({ name: 'fuzz', owner: 'fuzz' }),
      })
    ).json();
    const source = `fuzz${Date.now().toString(36)}`;
    const { secret } = await (
      await fetch(`${url.ingest}/v1/webhooks/sources`, {
        method: 'POST',
        headers: admin,
        body: JSON.stringify({ name: source }),
      })
    ).json();
    const arbs = {};
    for (const s of SERVICES) {
      const r = await fetch(`${url[s]}/openapi.json`);
      const doc = r.ok ? await r.json() : {};
      arbs[s] = requestsFor(doc, { tokens: [ADMIN, key.key] });
    }
    const pools = new Map();
    const next = (name, arb) => {
      let pool = pools.get(name);
      if (!pool || pool.length === 0) {
        pool = fc.sample(arb, 200);
        pools.set(name, pool);
      }
      return pool.pop();
    };

    const deadline = Date.now() + DURATION_S * 1000;
    let probes = 0;
    let probeFailures = 0;
    let busPublished = 0;
    let busRefused = 0;
    const worker = async () => {
      while (Date.now() < deadline) {
        const pick = Math.random();
        if (pick < 0.55) {
          const s = SERVICES[Math.floor(Math.random() * SERVICES.length)];
          const req = next(s, arbs[s]);
          record(s, req, await send(url[s], req, { timeoutMs: 15_000 }));
        } else if (pick < 0.8) {
          const body = Buffer.from(serialise(next('submission', submission)));
          const req = {
            method: 'POST',
            path: '/v1/tasks',
            headers: { authorization: `Bearer ${key.key}`, 'content-type': 'application/json' },
            body,
          };
          record('ingest', req, await send(url.ingest, req, { timeoutMs: 15_000 }));
        } else if (pick < 0.9) {
          const text = serialise(next('submission', submission));
          const id = `msg_${randomUUID()}`;
          const ts = Math.floor(Date.now() / 1000);
          const req = {
            method: 'POST',
            path: `/v1/webhooks/${source}`,
            headers: {
              'content-type': 'application/json',
              'webhook-id': id,
              'webhook-timestamp': String(ts),
              'webhook-signature': signWebhook(secret, id, ts, text),
            },
            body: Buffer.from(text),
          };
          record('ingest', req, await send(url.ingest, req, { timeoutMs: 15_000 }));
        } else if (pick < 0.99) {
          const runId = randomUUID();
          const sub = next('submission', submission);
          busRunIds.add(runId);
          busPublished++;
          // over the broker's max_payload (1 MiB) the publish itself is refused: nothing entered
          await js
            .publish(`${run.prefix}.ingest.tasks`, serialise({ ...sub, run_id: runId }), { msgID: randomUUID() })
            .catch(() => void busRefused++);
        } else {
          probes++;
          const r = await probe413(url.policy);
          if (r !== 'ok') {
            probeFailures++;
            counts.hangs += r === 'hang' ? 1 : 0;
            if (failures.length < 50) failures.push(`probe413: ${r}`);
          }
        }
      }
    };
    const progress = setInterval(
      () =>
        console.log(
          `  ${counts.requests} requests, ${counts['4xx']} 4xx, ${counts['5xx']} 5xx, ${counts.hangs} hangs, ${accepted.size} runs accepted`,
        ),
      30_000,
    );
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    clearInterval(progress);

    // every run ingest accepted (HTTP 202, webhook 202, or a bus submission it stored) must be settled
    const { Client } = require('pg');
    const pg = new Client({ connectionString: run.databaseUrl });
    await pg.connect();
    const stored = await pg.query('SELECT run_id FROM ingest.submissions WHERE run_id = ANY($1::uuid[])', [
      [...busRunIds],
    ]);
    const busAccepted = stored.rows.map((r) => r.run_id);
    const all = new Set([...accepted, ...busAccepted]);
    const settleBy = Date.now() + 120_000;
    const lost = [];
    let pending = [...all];
    while (pending.length > 0 && Date.now() < settleBy) {
      const rows = await pg
        .query('SELECT run_id, status FROM orchestrator.runs WHERE run_id = ANY($1::uuid[])', [pending])
        .catch(() => ({ rows: [] }));
      const status = new Map(rows.rows.map((r) => [r.run_id, r.status]));
      pending = pending.filter((id) => !TERMINAL.has(status.get(id)));
      if (pending.length > 0) await lib.sleep(1000);
    }
    for (const id of pending) {
      const r = await fetch(`${url.orchestrator}/v1/runs/${id}`, { headers: admin });
      lost.push(`${id}: ${r.status === 200 ? (await r.json()).status : r.status}`);
    }
    await pg.end();

    const result = {
      duration_s: DURATION_S,
      concurrency: CONCURRENCY,
      ...counts,
      bus_submissions: busPublished,
      bus_refused_by_broker: busRefused,
      runs_accepted: all.size,
      lost_runs: lost.length,
      probes_413: probes,
      probe_failures: probeFailures,
      per_service: perService,
      failures,
      lost: lost.slice(0, 50),
    };
    fs.mkdirSync(path.join(lib.ROOT, 'var'), { recursive: true });
    fs.writeFileSync(path.join(lib.ROOT, 'var', 'fuzz-results.json'), `${JSON.stringify(result, null, 2)}\n`);
    console.log(
      lib.table([
        ['requests', '2xx', '4xx', '5xx', 'hangs', 'resets', 'bad problems', 'bus', 'runs accepted', 'lost runs'],
        [
          counts.requests,
          counts['2xx'],
          counts['4xx'],
          counts['5xx'],
          counts.hangs,
          counts.resets,
          counts.badProblems,
          busPublished,
          all.size,
          lost.length,
        ].map(String),
      ]),
    );
    console.log(
      lib.table([
        ['service', 'requests', '4xx', '5xx', 'hangs'],
        ...SERVICES.map((s) => [s, ...Object.values(perService[s]).map(String)]),
      ]),
    );
    for (const f of [...failures, ...lost].slice(0, 20)) console.log(`  ! ${f}`);
    console.log('written: var/fuzz-results.json');
    exitCode = counts['5xx'] + counts.hangs + counts.badProblems + lost.length > 0 ? 1 : 0;
  } finally {
    await nc.close().catch(() => undefined);
    await lib.stopServices(procs);
    await lib.cleanup(run);
    fs.rmSync(workspace, { recursive: true, force: true });
  }
  process.exit(exitCode);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
