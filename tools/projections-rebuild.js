#!/usr/bin/env node
// npm run projections:rebuild -- [service...]  (default: every service with read models)
// Rebuilds read models from the event stream. Stop the service first: its live projection would race.
'use strict';
const net = require('node:net');
const { ensureKeyringSeed } = require('./lib/infra');

const SERVICES = { ingest: 7101, policy: 7102, orchestrator: 7103, approvals: 7104 };

function portOpen(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port, timeout: 500 });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
    s.once('timeout', () => (s.destroy(), resolve(false)));
  });
}

async function main() {
  const args = process.argv.slice(2);
  const force = args.includes('--force');
  const names = args.filter((a) => !a.startsWith('--'));
  const targets = names.length ? names : Object.keys(SERVICES);
  for (const n of targets) {
    if (!(n in SERVICES)) throw new Error(`unknown service "${n}" (one of: ${Object.keys(SERVICES).join(', ')})`);
  }
  const { rebuildService } = require('@warden/runtime');
  // the keys `npm start` gives the services: a rebuild verifies every event as the live service does
  const env =
    process.env.WARDEN_SIGNING_KEY && process.env.WARDEN_PRODUCER_KEYS
      ? process.env
      : { ...process.env, WARDEN_KEYRING_SEED: ensureKeyringSeed(process.env).key };
  for (const name of targets) {
    const port = Number(process.env[`${name.toUpperCase()}_PORT`] ?? SERVICES[name]);
    if (!force && (await portOpen(port))) {
      throw new Error(`${name} seems to be running on port ${port}; stop it first (or pass --force)`);
    }
    // the service's package entry for its read models (package.json "exports": "./projections")
    const mod = require(`@warden/${name}-service/projections`);
    const started = Date.now();
    const positions = await rebuildService(mod.rebuildTarget, env);
    console.log(`${name}: rebuilt in ${Date.now() - started} ms; checkpoints ${JSON.stringify(positions)}`);
  }
}

main().catch((err) => {
  console.error(`projections:rebuild failed: ${err.message}`);
  process.exit(1);
});
