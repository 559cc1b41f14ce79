#!/usr/bin/env node
/*
 * Ingest HTTP benchmark: POST /v1/tasks with an API key, open loop at fixed rates (autocannon
 * `overallRate`) and closed loop at full speed; plus the cost of verifying one signature in-process.
 * Starts the ingest service (built dist) as a child process on its own subject prefix and database.
 *
 *   node bench/ingest.js [--duration 10] [--rates 500,2000] [--connections 64]
 *
 * Writes bench/results/ingest.json and prints a table. Needs `npm run build` first.
 */
'use strict';
const {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  createHmac,
  randomBytes,
} = require('node:crypto');
const path = require('node:path');
const autocannon = require('autocannon');
const lib = require('./lib');
const { ROOT } = lib;

const args = lib.parseArgs();
const DURATION_S = Number(args.duration ?? 10);
const RATES = String(args.rates ?? '500,2000')
  .split(',')
  .map(Number);
const CONNECTIONS = Number(args.connections ?? 64);
const benchRun = lib.privateRun('bench');
const { prefix } = benchRun;
const PORT = Number(args.port ?? 17901);
const ADMIN = randomBytes(24).toString('base64url');

const SUBMISSION = JSON.stringify({
  agent: { id: 'bench-agent', role: 'research' },
  session_id: 'bench-session',
  action: { tool: 'fs.read_file', args: { path: 'bench.txt' } },
  intent: 'benchmark the HTTP edge',
});

function run(opts) {
  return new Promise((resolve, reject) => {
    autocannon(opts, (err, result) => (err ? reject(err) : resolve(result)));
  });
}

async function load(key, label, extra) {
  const r = await run({
    url: `http://127.0.0.1:${PORT}/v1/tasks`,
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: SUBMISSION,
    duration: DURATION_S,
    connections: CONNECTIONS,
    ...extra,
  });
  const accepted = r['2xx'];
  return {
    label,
    target_rps: extra.overallRate ?? null,
    duration_s: DURATION_S,
    requests: r.requests.total,
    accepted,
    non_2xx: r.non2xx,
    errors: r.errors + r.timeouts,
    accepted_per_s: Math.round(accepted / DURATION_S),
    latency_ms: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max },
  };
}

/** µs per operation of `fn`, after a warm-up. */
function perOp(fn, n = 20_000) {
  for (let i = 0; i < 2000; i++) fn(i);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(i);
  return Number(process.hrtime.bigint() - t0) / 1000 / n;
}

function signatureCosts() {
  const { verifyDelivery, verifier, signDelivery } = require(
    path.join(ROOT, 'services', 'ingest', 'dist', 'webhooks', 'domain', 'signature.js'),
  );
  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  const id = 'msg_bench';
  const ts = Math.floor(Date.now() / 1000);
  const body = Buffer.from(SUBMISSION);
  const sig = signDelivery(secret, id, ts, SUBMISSION);
  const one = [verifier(secret)];
  const rotating = [verifier(`whsec_${randomBytes(32).toString('base64')}`), verifier(secret)];
  if (!verifyDelivery({ id, timestamp: String(ts), signature: sig }, body, one, ts).ok)
    throw new Error('self-check failed');
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const msg = Buffer.from(SUBMISSION);
  const edSig = sign(null, msg, createPrivateKey(privateKey.export({ format: 'pem', type: 'pkcs8' })));
  const pub = createPublicKey(publicKey.export({ format: 'pem', type: 'spki' }));
  const hmacKey = randomBytes(32);
  return {
    body_bytes: body.length,
    webhook_standardwebhooks_us: round(
      perOp(() => verifyDelivery({ id, timestamp: String(ts), signature: sig }, body, one, ts)),
    ),
    webhook_during_rotation_us: round(
      perOp(() => verifyDelivery({ id, timestamp: String(ts), signature: sig }, body, rotating, ts)),
    ),
    hmac_sha256_node_crypto_us: round(perOp(() => createHmac('sha256', hmacKey).update(msg).digest())),
    ed25519_verify_us: round(perOp(() => verify(null, msg, pub, edSig), 5000)),
  };
}
const round = (x) => Math.round(x * 100) / 100;

async function main() {
  lib.requireBuilt('ingest');
  const env = {
    ...process.env,
    WARDEN_SUBJECT_PREFIX: prefix,
    DATABASE_URL: benchRun.databaseUrl,
    WARDEN_BOOTSTRAP_ADMIN_TOKEN: ADMIN,
    // ingest signs every event it emits: a development keyring for the run
    WARDEN_KEYRING_SEED: randomBytes(32).toString('base64'),
    WARDEN_SECRETS_KEY: randomBytes(32).toString('base64'),
    INGEST_RATE_LIMIT_PER_SEC: '1000000',
    INGEST_RATE_LIMIT_BURST: '1000000',
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'error',
  };
  const procs = await lib.startServices(['ingest'], {
    env,
    basePort: PORT,
    logFilter: /ERROR|WARN/,
    readyTimeoutMs: 30_000,
  });
  const results = { prefix, duration_s: DURATION_S, connections: CONNECTIONS, runs: [], signature_verification: null };
  try {
    const created = await fetch(`http://127.0.0.1:${PORT}/v1/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'bench', owner: 'bench' }),
    });
    const { key } = await created.json();
    await load(key, 'warm-up', { duration: 3, overallRate: 300 });
    // autocannon paces each connection per second: few connections per rate keep the open loop smooth
    for (const rate of RATES)
      results.runs.push(
        await load(key, `open loop ${rate}/s`, {
          overallRate: rate,
          connections: Math.min(CONNECTIONS, Math.ceil(rate / 50)),
        }),
      );
    results.runs.push(await load(key, 'closed loop (max)', {}));
    results.signature_verification = signatureCosts();
  } finally {
    await lib.stopServices(procs);
    await lib.cleanup(benchRun);
  }
  const rows = [['run', 'req', '2xx/s', 'non-2xx', 'err', 'p50 ms', 'p99 ms', 'max ms']];
  for (const r of results.runs)
    rows.push([
      r.label,
      r.requests,
      r.accepted_per_s,
      r.non_2xx,
      r.errors,
      r.latency_ms.p50,
      r.latency_ms.p99,
      r.latency_ms.max,
    ]);
  console.log(lib.table(rows));
  const s = results.signature_verification;
  console.log(
    `\nsignature verification per message (${s.body_bytes} B body): Standard Webhooks ${s.webhook_standardwebhooks_us} µs ` +
      `(two secrets during rotation ${s.webhook_during_rotation_us} µs); node HMAC-SHA256 ${s.hmac_sha256_node_crypto_us} µs; ` +
      `Ed25519 verify ${s.ed25519_verify_us} µs`,
  );
  lib.writeResults('ingest', { at: new Date().toISOString(), ...results });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
