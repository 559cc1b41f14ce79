'use strict';
/**
 * What the benchmarks share: options, a private subject prefix and database per run, starting the
 * built services as child processes and waiting for `/health/ready`, removing the run's streams and
 * database afterwards, percentiles, and writing `bench/results/<name>.json`.
 */
const { spawn } = require('node:child_process');
const { randomBytes } = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const PG = process.env.BENCH_PG_BASE ?? 'postgres://postgres@127.0.0.1:5432';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
/** The streams a service provisions under its prefix (`<PREFIX>_<name>`). */
const STREAMS = ['INGEST', 'EVENTS', 'CMD', 'DLQ'];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * `--name value` pairs from the command line as an object of strings.
 * @example parseArgs(['--rate', '20']) // { rate: '20' }
 */
function parseArgs(argv = process.argv.slice(2)) {
  return Object.fromEntries(
    argv.reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
  );
}

/** The value at percentile `p` of an ascending array, or null when it is empty. */
function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** One decimal, null stays null. */
const round = (v) => (v === null ? null : Math.round(v * 10) / 10);

/** A subject prefix and database of its own, so a run never touches a running system. */
function privateRun(tag) {
  const prefix = `${tag}${randomBytes(3).toString('hex')}`;
  const dbName = `warden_${prefix}`;
  return { prefix, dbName, databaseUrl: `${PG}/${dbName}` };
}

const distMain = (service) => path.join(ROOT, 'services', service, 'dist', 'main.js');

/** Throws "build first" unless every named service has been built. */
function requireBuilt(...services) {
  for (const s of services) if (!fs.existsSync(distMain(s))) throw new Error('build first: npm run build');
}

/** Resolves once `GET <url>/health/ready` answers 2xx; throws `<name> did not become ready` after `timeoutMs`. */
async function waitReady(name, url, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(`${url}/health/ready`)).ok) return;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`${name} did not become ready`);
    await sleep(200);
  }
}

/**
 * Starts the built services as child processes, service i on `basePort + i` (via `<NAME>_PORT`),
 * and waits until each is ready (if one is not, all are stopped and it throws). stderr lines matching `logFilter` are passed on, tagged.
 * Resolves `[{ name, child, port, url }]`.
 */
async function startServices(names, { env, basePort, nodeArgs = [], logFilter = /ERROR/, readyTimeoutMs = 60_000 }) {
  const procs = names.map((name, i) => {
    const port = basePort + i;
    const child = spawn(process.execPath, [...nodeArgs, distMain(name)], {
      env: { ...env, [`${name.toUpperCase()}_PORT`]: String(port) },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr.on('data', (d) => {
      const line = String(d).trim();
      if (logFilter.test(line)) process.stderr.write(`[${name}] ${line}\n`);
    });
    return { name, child, port, url: `http://127.0.0.1:${port}` };
  });
  try {
    for (const p of procs) await waitReady(p.name, p.url, readyTimeoutMs);
  } catch (err) {
    await stopServices(procs); // none left running when the start fails
    throw err;
  }
  return procs;
}

/**
 * {@link startServices} for a benchmark that shows the services' warnings too: says what it starts and
 * the machine's load average first.
 */
function startServicesWarn(names, { env, basePort, nodeArgs = [] }) {
  console.log(`starting ${names.join(', ')} (load average ${os.loadavg().map(round).join(' ')})`);
  return startServices(names, { env, basePort, nodeArgs, logFilter: /WARN|ERROR|"level":"(warn|error)"/i });
}

/** SIGTERM to each started service; resolves when all have exited. */
async function stopServices(procs) {
  for (const p of procs) p.child.kill('SIGTERM');
  await Promise.all(procs.map((p) => new Promise((r) => (p.child.exitCode !== null ? r() : p.child.once('exit', r)))));
}

/**
 * Deletes the run's streams (plus `extraStreams`, full names) and drops its database. Never throws:
 * a failure is printed, since it runs on the way out.
 */
async function cleanup({ prefix, dbName }, extraStreams = []) {
  try {
    const { connect } = require('@nats-io/transport-node');
    const { jetstreamManager } = require('@nats-io/jetstream');
    const { Client } = require('pg');
    const nc = await connect({ servers: NATS_URL });
    const jsm = await jetstreamManager(nc);
    const up = prefix.toUpperCase();
    // the streams, and the KV buckets the services made under this prefix (MCP pins and tools, the policy pointer)
    const buckets = [];
    for await (const s of jsm.streams.list()) if (s.config.name.startsWith(`KV_${up}_`)) buckets.push(s.config.name);
    for (const s of [...STREAMS.map((s) => `${up}_${s}`), ...buckets, ...extraStreams])
      await jsm.streams.delete(s).catch(() => undefined);
    await nc.close();
    const pg = new Client({ connectionString: `${PG}/postgres` });
    await pg.connect();
    await pg.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
    await pg.end();
  } catch (err) {
    console.error('cleanup failed:', err.message);
  }
}

/** Writes `bench/results/<name>.json` (indented, final newline); returns its path relative to the repo. */
function writeResults(name, result) {
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  fs.writeFileSync(path.join(__dirname, 'results', `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
  return path.join('bench', 'results', `${name}.json`);
}

/**
 * The services' environment for a run: its private prefix and database, a fresh keyring seed, the admin
 * token, ingest's rate limit out of the way, LOG_LEVEL from BENCH_LOG_LEVEL (default error), then `extra`.
 */
function serviceEnv(run, adminToken, extra = {}) {
  return {
    ...process.env,
    WARDEN_SUBJECT_PREFIX: run.prefix,
    DATABASE_URL: run.databaseUrl,
    WARDEN_KEYRING_SEED: randomBytes(32).toString('base64'),
    WARDEN_BOOTSTRAP_ADMIN_TOKEN: adminToken,
    INGEST_RATE_LIMIT_PER_SEC: '100000',
    INGEST_RATE_LIMIT_BURST: '100000',
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'error',
    ...extra,
  };
}

/**
 * Creates an API key bound to `agent` (POST /v1/keys on ingest with the admin token) and resolves it
 * once `isKnown(key)` holds (the services that must authenticate it have it; polled every 50 ms, 100
 * times at most, then it throws).
 */
async function createKey({ ingestUrl, adminToken, name, agent }, isKnown) {
  const r = await fetch(`${ingestUrl}/v1/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name, owner: 'bench', agent }),
  });
  if (r.status !== 201) throw new Error(`POST /v1/keys answered ${r.status}: ${await r.text()}`);
  const { key } = await r.json();
  for (let i = 0; i < 100; i++) {
    if (await isKnown(key)) return key;
    await sleep(50);
  }
  throw new Error('the new key never became known');
}

/**
 * Runs a benchmark's `main`: an error is printed and sets exit code 1; on the way out, and when stopped
 * early (SIGINT/SIGTERM: Ctrl-C, a timeout), the services (`procs()`, the current list) and the run's
 * private streams and database go too.
 */
function runMain(main, { procs, run }) {
  for (const sig of ['SIGINT', 'SIGTERM'])
    process.once(sig, () => {
      console.error(`bench: ${sig}: stopping the services`);
      void stopServices(procs())
        .then(() => cleanup(run))
        .finally(() => process.exit(130));
    });
  main()
    .catch((err) => {
      console.error(err);
      process.exitCode = 1;
    })
    .finally(async () => {
      await stopServices(procs());
      await cleanup(run);
    });
}

/** Rows of cells as left-aligned columns two spaces apart (the first row is the header). */
function table(rows) {
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows.map((r) => r.map((c, i) => String(c).padEnd(w[i])).join('  ')).join('\n');
}

module.exports = {
  ROOT,
  NATS_URL,
  PG,
  REDIS_URL,
  sleep,
  parseArgs,
  percentile,
  round,
  privateRun,
  requireBuilt,
  waitReady,
  startServices,
  startServicesWarn,
  stopServices,
  cleanup,
  writeResults,
  serviceEnv,
  createKey,
  runMain,
  table,
};
