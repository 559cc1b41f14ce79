'use strict';
/**
 * Shared by `npm start` and `npm test`: are NATS, Postgres and Redis reachable, and how to start
 * them if not. Plain CommonJS with no build step so it runs on a fresh clone.
 */
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { randomBytes } = require('node:crypto');

const ROOT = path.resolve(__dirname, '..', '..');

const DEFAULTS = {
  NATS_URL: 'nats://127.0.0.1:4222',
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/warden',
  REDIS_URL: 'redis://127.0.0.1:6379',
};

const START_HINTS = {
  nats: 'start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log',
  postgres: 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start',
  redis:
    'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log',
};

/**
 * Host and port of a server URL; `defaultPort` when the URL names none. Accepts `host:port`
 * without a scheme (NATS allows that) and takes the first entry of a comma-separated list.
 * @example parseHostPort('nats://10.0.0.5', 4222) // { host: '10.0.0.5', port: 4222 }
 */
function parseHostPort(url, defaultPort) {
  const first = String(url).split(',')[0].trim();
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(first) ? first : `tcp://${first}`;
  let u;
  try {
    u = new URL(withScheme);
  } catch {
    throw new Error(`cannot parse "${first}" as a URL`);
  }
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
  const port = u.port ? Number(u.port) : defaultPort;
  return { host, port };
}

/** The three servers the services need, read from env with the developer defaults. */
function infraTargets(env = process.env) {
  return [
    { name: 'nats', label: 'NATS', envVar: 'NATS_URL', ...parseHostPort(env.NATS_URL || DEFAULTS.NATS_URL, 4222) },
    {
      name: 'postgres',
      label: 'Postgres',
      envVar: 'DATABASE_URL',
      ...parseHostPort(env.DATABASE_URL || DEFAULTS.DATABASE_URL, 5432),
    },
    { name: 'redis', label: 'Redis', envVar: 'REDIS_URL', ...parseHostPort(env.REDIS_URL || DEFAULTS.REDIS_URL, 6379) },
  ];
}

/**
 * Resolves `{ok: true}` if a TCP connection to host:port opens within `timeoutMs`, otherwise
 * `{ok: false, error}`. Never rejects.
 */
function checkTcp(host, port, timeoutMs = 2000) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let done = false;
    const finish = (result) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish({ ok: false, error: `no answer within ${timeoutMs} ms` }), timeoutMs);
    socket.once('connect', () => finish({ ok: true }));
    socket.once('error', (err) => finish({ ok: false, error: err.code || err.message }));
  });
}

function isLocalHost(host) {
  return host === '127.0.0.1' || host === 'localhost' || host === '::1' || host === '0.0.0.0';
}

/** Checks every target concurrently; returns them with `ok` and `error` filled in. */
async function checkInfrastructure(env = process.env, timeoutMs = 2000) {
  const targets = infraTargets(env);
  const results = await Promise.all(targets.map((t) => checkTcp(t.host, t.port, timeoutMs)));
  return targets.map((t, i) => ({ ...t, ...results[i] }));
}

/** Human-readable explanation of what is down and the commands that start it. */
function formatInfraReport(results) {
  const down = results.filter((r) => !r.ok);
  if (down.length === 0) return '';
  const lines = [];
  for (const r of down) {
    lines.push(`${r.label} is not reachable at ${r.host}:${r.port} (${r.envVar}): ${r.error}`);
  }
  lines.push('', 'Start the missing server(s) on a Debian/Ubuntu machine (as root):');
  for (const r of down) {
    if (!isLocalHost(r.host)) {
      lines.push(`  # ${r.label}: ${r.host} is not this machine; check ${r.envVar} and that the server is up`);
      continue;
    }
    const defaultPort = { nats: 4222, postgres: 5432, redis: 6379 }[r.name];
    if (r.port !== defaultPort) {
      lines.push(`  # ${r.envVar} uses port ${r.port}; the command below listens on ${defaultPort}, adjust it`);
    }
    if (r.name === 'nats') lines.push('  mkdir -p /var/lib/nats-server');
    if (r.name === 'redis') lines.push('  mkdir -p /var/lib/redis /var/log/redis');
    lines.push(`  ${START_HINTS[r.name]}`);
  }
  lines.push('or with Docker:', `  docker compose up -d ${down.map((r) => r.name).join(' ')}`);
  return lines.join('\n');
}

/**
 * Checks the servers and prints what is missing. Resolves true when all answer.
 * @example if (!(await requireInfrastructure())) process.exit(1);
 */
async function requireInfrastructure(env = process.env, log = console.error) {
  const results = await checkInfrastructure(env);
  const report = formatInfraReport(results);
  if (report) log(report);
  return !report;
}

/**
 * Creates the database named in `databaseUrl` if it is missing (connects to `postgres`).
 * Tolerates a concurrent creator. Resolves true if it created the database.
 */
async function ensureDatabase(databaseUrl) {
  const { Client } = require('pg');
  const target = new URL(databaseUrl);
  const name = decodeURIComponent(target.pathname.replace(/^\//, ''));
  if (!name) throw new Error('DATABASE_URL names no database');
  const admin = new URL(databaseUrl);
  admin.pathname = '/postgres';
  const client = new Client({ connectionString: admin.toString(), connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    const r = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (r.rowCount > 0) return false;
    try {
      await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
    } catch (err) {
      // 42P04 duplicate_database, 23505 the pg_database unique index: someone else won the race
      if (err.code !== '42P04' && err.code !== '23505') throw err;
      return false;
    }
    return true;
  } finally {
    await client.end();
  }
}

/** Decodes a 32-byte key given as base64 or 64 hex chars; throws naming `what` otherwise. */
function decodeKey32(text, what) {
  const trimmed = String(text).trim();
  // a PEM Ed25519 key (PKCS#8 seed or SPKI public key) is checked by the services themselves
  if (trimmed.startsWith('-----BEGIN ')) return Buffer.alloc(32);
  const buf = /^[0-9a-f]{64}$/i.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64');
  if (buf.length !== 32) throw new Error(`${what} must be 32 bytes (base64 or hex), got ${buf.length}`);
  return buf;
}

/**
 * Reads a secret file, or creates it with `make()` and mode 0600. Tightens a file readable by
 * others, since these hold keys.
 */
function readOrCreateSecretFile(file, make) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  try {
    const fd = fs.openSync(file, 'wx', 0o600);
    try {
      fs.writeSync(fd, `${make()}\n`);
    } finally {
      fs.closeSync(fd);
    }
    return { value: fs.readFileSync(file, 'utf8').trim(), created: true };
  } catch (err) {
    if (err.code !== 'EEXIST') throw err;
  }
  const st = fs.statSync(file);
  if ((st.mode & 0o077) !== 0) fs.chmodSync(file, 0o600);
  return { value: fs.readFileSync(file, 'utf8').trim(), created: false };
}

/**
 * The development keyring seed every local service derives its own Ed25519 key from (and every
 * other producer's public key): `WARDEN_KEYRING_SEED` if set, else `var/signing.key` (created with
 * 32 random bytes, base64, mode 0600). Throws if the seed is malformed. Production gives each
 * service its own `WARDEN_SIGNING_KEY` and `WARDEN_PRODUCER_KEYS` instead (`npx warden signing-keys`).
 */
function ensureKeyringSeed(env = process.env, root = ROOT) {
  if (env.WARDEN_KEYRING_SEED) {
    decodeKey32(env.WARDEN_KEYRING_SEED, 'WARDEN_KEYRING_SEED');
    return { key: env.WARDEN_KEYRING_SEED, source: 'env', created: false };
  }
  const file = path.join(root, 'var', 'signing.key');
  const { value, created } = readOrCreateSecretFile(file, () => randomBytes(32).toString('base64'));
  decodeKey32(value, file);
  return { key: value, source: file, created };
}

/**
 * The key that encrypts secrets at rest (webhook source secrets): `WARDEN_SECRETS_KEY` if set, else
 * `var/secrets.key` (32 random bytes, base64, created once, mode 0600), so every local process agrees.
 */
function ensureSecretsKey(env = process.env, root = ROOT) {
  if (env.WARDEN_SECRETS_KEY) {
    decodeKey32(env.WARDEN_SECRETS_KEY, 'WARDEN_SECRETS_KEY');
    return { key: env.WARDEN_SECRETS_KEY, source: 'env', created: false };
  }
  const file = path.join(root, 'var', 'secrets.key');
  const { value, created } = readOrCreateSecretFile(file, () => randomBytes(32).toString('base64'));
  decodeKey32(value, file);
  return { key: value, source: file, created };
}

/**
 * A development operator token: `WARDEN_BOOTSTRAP_ADMIN_TOKEN` if set, else `var/admin.token`
 * (created random, mode 0600). The CLI reads the same file.
 */
function ensureDevAdminToken(env = process.env, root = ROOT) {
  if (env.WARDEN_BOOTSTRAP_ADMIN_TOKEN)
    return { token: env.WARDEN_BOOTSTRAP_ADMIN_TOKEN, source: 'env', created: false };
  const file = path.join(root, 'var', 'admin.token');
  const { value, created } = readOrCreateSecretFile(file, () => randomBytes(32).toString('base64url'));
  return { token: value, source: file, created };
}

module.exports = {
  ROOT,
  DEFAULTS,
  START_HINTS,
  parseHostPort,
  infraTargets,
  checkTcp,
  checkInfrastructure,
  formatInfraReport,
  requireInfrastructure,
  ensureDatabase,
  decodeKey32,
  readOrCreateSecretFile,
  ensureKeyringSeed,
  ensureSecretsKey,
  ensureDevAdminToken,
};
