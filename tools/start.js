#!/usr/bin/env node
'use strict';
/**
 * `npm start`: checks NATS/Postgres/Redis, creates the database, makes sure a signing key exists,
 * builds, then runs the five services as child processes with prefixed output. Ctrl-C or SIGTERM
 * stops them all (SIGTERM, then SIGKILL after 10 s).
 */
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const infra = require('./lib/infra');
const { useColor, makeTags, pipeWithPrefix } = require('./lib/prefix');

const SERVICES = [
  { name: 'ingest', portVar: 'INGEST_PORT', port: 7101 },
  { name: 'policy', portVar: 'POLICY_PORT', port: 7102 },
  { name: 'orchestrator', portVar: 'ORCHESTRATOR_PORT', port: 7103 },
  { name: 'approvals', portVar: 'APPROVALS_PORT', port: 7104 },
  { name: 'workers', portVar: 'WORKERS_PORT', port: 7105 },
];
const STOP_TIMEOUT_MS = 10_000;
const READY_TIMEOUT_MS = 60_000;

const USAGE = `Usage: npm start [-- --no-build] [--only ingest,policy,...]

Runs the five Warden services against NATS_URL, DATABASE_URL and REDIS_URL.
  --no-build     skip "tsc -b tsconfig.build.json" (use the existing dist/)
  --only a,b     start only these services (${SERVICES.map((s) => s.name).join(', ')})
  -h, --help     this text`;

function parseArgs(argv) {
  const opts = { build: true, only: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--no-build') opts.build = false;
    else if (a === '--only' || a.startsWith('--only=')) {
      const value = a === '--only' ? argv[++i] : a.slice('--only='.length);
      if (!value) throw new Error('--only needs a comma-separated list of services');
      opts.only = value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const unknown = opts.only.filter((n) => !SERVICES.some((s) => s.name === n));
      if (unknown.length) throw new Error(`unknown service(s) for --only: ${unknown.join(', ')}`);
    } else if (a === '-h' || a === '--help') opts.help = true;
    else throw new Error(`unknown option "${a}"`);
  }
  return opts;
}

function run(cmd, args, cwd) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, stdio: 'inherit' });
    child.on('error', (err) => {
      console.error(`failed to run ${cmd}: ${err.message}`);
      resolve(1);
    });
    child.on('close', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

async function prepare(opts, say) {
  if (!(await infra.requireInfrastructure(process.env))) {
    console.error('\nnpm start needs NATS, Postgres and Redis; nothing was started.');
    return null;
  }
  const databaseUrl = process.env.DATABASE_URL || infra.DEFAULTS.DATABASE_URL;
  try {
    if (await infra.ensureDatabase(databaseUrl)) say(`created database ${new URL(databaseUrl).pathname.slice(1)}`);
  } catch (err) {
    console.error(`cannot prepare the database (${err.message}); check DATABASE_URL`);
    return null;
  }

  const childEnv = { ...process.env };
  const signing = infra.ensureKeyringSeed(process.env);
  // one seed, a distinct key per service derived from it; a single WARDEN_SIGNING_KEY for all five
  // would let any of them sign as another, so it is not passed on here
  for (const v of ['WARDEN_SIGNING_KEY', 'WARDEN_PRODUCER_KEYS']) {
    if (childEnv[v]) say(`ignoring ${v}: npm start derives each service's key from the keyring seed`);
    delete childEnv[v];
  }
  childEnv.WARDEN_KEYRING_SEED = signing.key;
  if (signing.source !== 'env')
    say(`${signing.created ? 'created' : 'using'} keyring seed ${path.relative(infra.ROOT, signing.source)}`);
  const secrets = infra.ensureSecretsKey(process.env);
  childEnv.WARDEN_SECRETS_KEY = secrets.key;
  if (secrets.source !== 'env')
    say(`${secrets.created ? 'created' : 'using'} secrets key ${path.relative(infra.ROOT, secrets.source)}`);
  if (process.env.NODE_ENV !== 'production') {
    const admin = infra.ensureDevAdminToken(process.env);
    childEnv.WARDEN_BOOTSTRAP_ADMIN_TOKEN = admin.token;
    if (admin.source !== 'env')
      say(`development admin token in ${path.relative(infra.ROOT, admin.source)} (the CLI reads it)`);
  }
  const workspace = path.resolve(infra.ROOT, process.env.WARDEN_WORKSPACE || 'var/workspace');
  fs.mkdirSync(workspace, { recursive: true });
  childEnv.WARDEN_WORKSPACE = workspace;
  // without an SMTP server, email.send writes .eml files here (development only)
  if (process.env.NODE_ENV !== 'production' && !process.env.WORKER_SMTP_URL && !process.env.WORKER_EMAIL_OUTBOX) {
    childEnv.WORKER_EMAIL_OUTBOX = path.resolve(infra.ROOT, 'var/outbox');
    fs.mkdirSync(childEnv.WORKER_EMAIL_OUTBOX, { recursive: true });
  }

  if (opts.build) {
    say('building (tsc -b tsconfig.build.json)…');
    // the workspace's own tsc (what `npx tsc` would pick), without npx's startup and warnings
    const tsc = require.resolve('typescript/bin/tsc', { paths: [infra.ROOT] });
    const code = await run(process.execPath, [tsc, '-b', 'tsconfig.build.json'], infra.ROOT);
    if (code !== 0) {
      console.error(`build failed (exit ${code}); nothing was started`);
      return null;
    }
  }
  return childEnv;
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`${err.message}\n\n${USAGE}`);
    return 2;
  }
  if (opts.help) {
    console.log(USAGE);
    return 0;
  }
  const services = SERVICES.filter((s) => !opts.only || opts.only.includes(s.name));
  const color = useColor(process.stdout);
  const tags = makeTags(['warden', ...services.map((s) => s.name)], color);
  const say = (msg) => process.stdout.write(`${tags.warden} ${msg}\n`);

  const childEnv = await prepare(opts, say);
  if (!childEnv) return 1;

  for (const s of services) {
    const main = path.join(infra.ROOT, 'services', s.name, 'dist', 'main.js');
    if (!fs.existsSync(main)) {
      console.error(`${path.relative(infra.ROOT, main)} is missing; run without --no-build`);
      return 1;
    }
    s.effectivePort = process.env[s.portVar] || String(s.port);
  }
  say('services:');
  for (const s of services) say(`  ${s.name.padEnd(13)} http://127.0.0.1:${s.effectivePort}  (${s.portVar})`);

  const sup = supervise(
    services.map((s) => ({ name: s.name, args: [path.join('services', s.name, 'dist', 'main.js')] })),
    { env: childEnv, cwd: infra.ROOT, tags, say },
  );
  const onSignal = (sig) => sup.stop(`received ${sig}`, 0);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  void reportReadiness(services, say, sup.isStopping);
  return sup.done;
}

/**
 * Runs `children` ({name, args}) with `node`, prefixing their output. Resolves `{done, stop}`:
 * `done` settles with the exit code once all are gone; `stop(reason)` sends SIGTERM, then SIGKILL
 * after `stopTimeoutMs`; a second `stop` kills at once. An unexpected exit stops the rest (code 1).
 */
function supervise(
  children,
  { env, cwd, tags, say, stopTimeoutMs = STOP_TIMEOUT_MS, out = process.stdout, err = process.stderr },
) {
  const running = new Map();
  let stopping = false;
  let exitCode = 0;
  let killTimer;
  let resolveDone;
  const done = new Promise((resolve) => {
    resolveDone = resolve;
  });

  const finishIfDone = () => {
    if (running.size > 0) return;
    clearTimeout(killTimer);
    resolveDone(exitCode);
  };

  const stop = (reason, code = 0) => {
    exitCode = Math.max(exitCode, code);
    if (stopping) {
      say(`${reason}: killing ${[...running.keys()].join(', ') || 'nothing'} now`);
      for (const child of running.values()) child.kill('SIGKILL');
      exitCode = Math.max(exitCode, 1);
      return;
    }
    stopping = true;
    say(`${reason}; stopping ${[...running.keys()].join(', ') || 'nothing'}`);
    for (const child of running.values()) child.kill('SIGTERM');
    killTimer = setTimeout(() => {
      for (const [name, child] of running) {
        say(`${name} did not stop within ${stopTimeoutMs / 1000} s; killing it`);
        child.kill('SIGKILL');
      }
      exitCode = Math.max(exitCode, 1);
    }, stopTimeoutMs);
    finishIfDone();
  };

  for (const c of children) {
    const child = spawn(process.execPath, c.args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    running.set(c.name, child);
    pipeWithPrefix(child.stdout, out, tags[c.name]);
    pipeWithPrefix(child.stderr, err, tags[c.name]);
    child.on('error', (e) => say(`${c.name}: ${e.message}`));
    // 'close' fires after the child's output is fully drained
    child.on('close', (code, signal) => {
      running.delete(c.name);
      const how = signal ? `signal ${signal}` : `code ${code}`;
      if (!stopping) {
        say(`${c.name} exited unexpectedly (${how})`);
        stop(`${c.name} is down`, 1);
      } else {
        if (code !== 0 && signal !== 'SIGTERM' && signal !== 'SIGINT') exitCode = Math.max(exitCode, 1);
        say(`${c.name} stopped (${how})`);
      }
      finishIfDone();
    });
  }
  return { done, stop, isStopping: () => stopping };
}

/** Polls each service's /health/ready and says when all are ready (or which are not). */
async function reportReadiness(services, say, isStopping) {
  const pending = new Set(services.filter((s) => s.effectivePort !== '0'));
  const last = new Map();
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (pending.size > 0 && Date.now() < deadline && !isStopping()) {
    await new Promise((r) => setTimeout(r, 500).unref());
    await Promise.all(
      [...pending].map(async (s) => {
        try {
          const res = await fetch(`http://127.0.0.1:${s.effectivePort}/health/ready`, {
            signal: AbortSignal.timeout(2000),
          });
          if (res.ok) pending.delete(s);
          else last.set(s.name, `${res.status} ${(await res.text()).slice(0, 200)}`);
        } catch (err) {
          last.set(s.name, err.cause?.code || err.message);
        }
      }),
    );
  }
  if (isStopping()) return;
  if (pending.size === 0) say(`all ${services.length} services ready`);
  else {
    for (const s of pending)
      say(`${s.name} not ready after ${READY_TIMEOUT_MS / 1000} s: ${last.get(s.name) || 'no answer'}`);
  }
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      console.error(err && err.stack ? err.stack : err);
      process.exit(1);
    },
  );
}

module.exports = { parseArgs, supervise, SERVICES };
