#!/usr/bin/env node
'use strict';
/**
 * `npm start`: checks NATS/Postgres/Redis, creates the database, makes sure a signing key exists,
 * builds, then runs the five services as child processes with prefixed output. Ctrl-C or SIGTERM
 * stops them all (SIGTERM, then SIGKILL after 10 s). `--replicas N` (or WARDEN_REPLICAS) runs N of
 * each: replica r (1-based) listens on the service's port + 100 × (r − 1), its metrics with it.
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
/** Replica r of a service listens on its base port + REPLICA_PORT_STEP × (r − 1). */
const REPLICA_PORT_STEP = 100;
const MAX_REPLICAS = 9;
const READY_TIMEOUT_MS = 60_000;

const USAGE = `Usage: npm start [-- --no-build] [--only ingest,policy,...] [--replicas N]

Runs the five Warden services against NATS_URL, DATABASE_URL and REDIS_URL.
  --no-build     skip "tsc -b tsconfig.build.json" and the sandbox bundle (use the existing dist/)
  --only a,b     start only these services (${SERVICES.map((s) => s.name).join(', ')})
  --replicas N   run N (1-${MAX_REPLICAS}) of each service (default WARDEN_REPLICAS or 1); replica r
                 listens on the service's port + ${REPLICA_PORT_STEP} × (r − 1)
  -h, --help     this text`;

/** A replica count from the command line or WARDEN_REPLICAS: a whole number from 1 to MAX_REPLICAS. */
function parseReplicas(value, from) {
  const n = /^[0-9]+$/.test(String(value ?? '').trim()) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_REPLICAS)
    throw new Error(`${from} must be a whole number from 1 to ${MAX_REPLICAS} (got "${value ?? ''}")`);
  return n;
}

function parseArgs(argv, env = process.env) {
  const opts = { build: true, only: null, replicas: 1 };
  if (env.WARDEN_REPLICAS !== undefined && env.WARDEN_REPLICAS !== '')
    opts.replicas = parseReplicas(env.WARDEN_REPLICAS, 'WARDEN_REPLICAS');
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--no-build') opts.build = false;
    else if (a === '--replicas' || a.startsWith('--replicas=')) {
      opts.replicas = parseReplicas(a === '--replicas' ? argv[++i] : a.slice('--replicas='.length), '--replicas');
    } else if (a === '--only' || a.startsWith('--only=')) {
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
    // the sandbox in one file with its code cache (a plain build works too: sandboxes start slower)
    const bundled = await run(process.execPath, [path.join(infra.ROOT, 'tools', 'bundle-sandbox.js')], infra.ROOT);
    if (bundled !== 0) {
      console.error(`bundling the sandbox failed (exit ${bundled}); nothing was started`);
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
  let instances;
  try {
    instances = replicaInstances(services, opts.replicas, process.env);
  } catch (err) {
    console.error(err.message);
    return 2;
  }
  const color = useColor(process.stdout);
  const tags = makeTags(['warden', ...instances.map((s) => s.name)], color);
  const say = (msg) => process.stdout.write(`${tags.warden} ${msg}\n`);

  const childEnv = await prepare(opts, say);
  if (!childEnv) return 1;

  for (const s of services) {
    const main = path.join(infra.ROOT, 'services', s.name, 'dist', 'main.js');
    if (!fs.existsSync(main)) {
      console.error(`${path.relative(infra.ROOT, main)} is missing; run without --no-build`);
      return 1;
    }
  }
  say(opts.replicas > 1 ? `services (${opts.replicas} replicas of each):` : 'services:');
  for (const s of instances) say(`  ${s.name.padEnd(15)} http://127.0.0.1:${s.effectivePort}  (${s.portVar})`);

  const sup = supervise(
    instances.map((s) => ({
      name: s.name,
      args: [path.join('services', s.service, 'dist', 'main.js')],
      env: { ...childEnv, ...s.env },
    })),
    { env: childEnv, cwd: infra.ROOT, tags, say },
  );
  const onSignal = (sig) => sup.stop(`received ${sig}`, 0);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  void reportReadiness(instances, say, sup.isStopping);
  return sup.done;
}

/**
 * The processes to run: `replicas` of each service, named `ingest`, `ingest-2`, … Replica r listens
 * on the service's port (its *_PORT variable, else the default) + REPLICA_PORT_STEP × (r − 1); port 0
 * (any free port) stays 0 for all. Each gets its own env: its port and, when WORKER_ID is set, a
 * WORKER_ID naming the replica (the default, host-pid, differs per process already).
 * @example replicaInstances(SERVICES, 2, {}) // ingest:7101, ingest-2:7201, policy:7102, …
 */
function replicaInstances(services, replicas, env) {
  const out = [];
  for (const s of services) {
    const raw = env[s.portVar] || String(s.port);
    const base = Number(raw);
    if (!Number.isInteger(base) || base < 0 || base > 65535) throw new Error(`${s.portVar} is not a port: "${raw}"`);
    for (let r = 1; r <= replicas; r++) {
      const port = base === 0 ? 0 : base + REPLICA_PORT_STEP * (r - 1);
      if (port > 65535) throw new Error(`${s.name} replica ${r} would listen on ${port}: lower ${s.portVar}`);
      const name = r === 1 ? s.name : `${s.name}-${r}`;
      const own = { [s.portVar]: String(port) };
      // the default WORKER_ID (host-pid) differs per process already; a set one must too
      if (s.name === 'workers' && replicas > 1 && env.WORKER_ID) own.WORKER_ID = `${env.WORKER_ID}-${r}`;
      out.push({ name, service: s.name, replica: r, portVar: s.portVar, effectivePort: String(port), env: own });
    }
  }
  return out;
}

/**
 * Runs `children` ({name, args, env?}) with `node`, prefixing their output. Resolves `{done, stop}`:
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
    const child = spawn(process.execPath, c.args, { cwd, env: c.env ?? env, stdio: ['ignore', 'pipe', 'pipe'] });
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

module.exports = { parseArgs, supervise, replicaInstances, SERVICES, REPLICA_PORT_STEP };
