'use strict';
/**
 * `warden policy …` and `warden replay …`: test a bundle locally (like `opa test`), see what a
 * candidate would change over recorded decisions, push and roll back bundles, replay decisions.
 * `test` runs in-process from the built policy service (`npm run build`); the rest call the policy
 * API at POLICY_URL with an operator token.
 */
const fs = require('node:fs');
const path = require('node:path');
const { UsageError, parseFlags, positiveInt } = require('./args');
const { CliError, apiClient, command } = require('./http');

const ROOT = path.resolve(__dirname, '..', '..');
const DOMAIN = path.join(ROOT, 'services', 'policy', 'dist', 'decision', 'domain');

const usage = `Policy (POLICY_URL, default http://127.0.0.1:7102):
  policy test <bundle.yaml> [--json]         run the bundle's own tests (exit 1 if any fails)
  policy whatif <bundle.yaml> [--since 24h] [--limit n] [--json]
                                             what the candidate would change over recorded decisions
  policy push <bundle.yaml>                  validate, store and activate on every replica (admin)
  policy activate <sha256:…>                 activate a stored bundle: rollback (admin)
  policy show [--bundles] [--source <digest>] [--json]
                                             the active bundle; stored bundles; a stored bundle's text
  replay <run_id> [--json]                   re-evaluate a recorded decision under its recorded bundle
                                             (exit 3 if it differs)
  replay --since 24h [--limit n] [--json]    replay every recorded decision since then (exit 3 if any differs)`;

const policy = apiClient({
  name: 'the policy service',
  urlVar: 'POLICY_URL',
  defaultUrl: 'http://127.0.0.1:7102',
  timeoutMs: 60_000,
});

function readBundle(file) {
  if (!file) throw new UsageError('needs a bundle file, e.g. deploy/policies/default.yaml');
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${err.message}`);
  }
}

function domain() {
  try {
    return {
      bundle: require(path.join(DOMAIN, 'bundle.js')),
      tests: require(path.join(DOMAIN, 'policy-tests.js')),
    };
  } catch (err) {
    throw new CliError(`the policy service is not built (${err.message.split('\n')[0]}): run npm run build`);
  }
}

/** `warden policy test <bundle>`: validation errors exit 1; failing tests exit 1; all green 0. */
async function test(argv, io) {
  const { flags, positionals } = parseFlags(argv, { json: 'boolean' });
  const text = readBundle(positionals[0]);
  const { bundle, tests } = domain();
  let loaded;
  try {
    loaded = bundle.parseBundle(text);
  } catch (err) {
    if (!Array.isArray(err.errors)) throw err;
    io.stderr.write(`${positionals[0]} is not a valid bundle:\n`);
    for (const e of err.errors) io.stderr.write(`  ${e.path || '(root)'}: ${e.message}\n`);
    return 1;
  }
  const results = tests.runPolicyTests(loaded);
  const failed = results.filter((r) => !r.passed);
  if (flags.json) {
    io.stdout.write(`${JSON.stringify({ digest: loaded.digest, version: loaded.bundle.version, results }, null, 2)}\n`);
    return failed.length ? 1 : 0;
  }
  io.stdout.write(`${loaded.bundle.version} ${loaded.digest}\n`);
  for (const r of results) {
    const v = r.verdict;
    const got = `${v.outcome}${v.outcome === 'escalate' ? ` tier ${v.tier}` : ''} [${v.rule_ids.join(', ')}]`;
    io.stdout.write(`  ${r.passed ? 'PASS' : 'FAIL'}  ${r.name}  → ${got}\n`);
    for (const f of r.failures) io.stdout.write(`        ${f}\n`);
  }
  if (!results.length) io.stdout.write('  (the bundle has no tests)\n');
  io.stdout.write(`${results.length - failed.length} passed, ${failed.length} failed\n`);
  return failed.length ? 1 : 0;
}

async function whatif(argv, io) {
  const { flags, positionals } = parseFlags(argv, { since: 'string', limit: 'string', json: 'boolean' });
  const text = readBundle(positionals[0]);
  const body = { bundle: text, since: flags.since || '24h' };
  if (flags.limit) body.limit = positiveInt(flags.limit, 'limit');
  const r = await policy.call(io, 'POST', '/v1/policy/whatif', body);
  if (flags.json) {
    io.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    return 0;
  }
  io.stdout.write(
    `candidate ${r.candidate.version} ${r.candidate.digest}\n` +
      `${r.evaluated} decisions since ${r.since}: ${r.unchanged} unchanged, ${r.changed} would change\n`,
  );
  const keys = Object.keys(r.transitions).sort((a, b) => r.transitions[b] - r.transitions[a]);
  for (const k of keys) {
    io.stdout.write(`  ${String(r.transitions[k]).padStart(6)} ${k}\n`);
    for (const e of r.examples[k] || []) {
      io.stdout.write(
        `           e.g. run ${e.run_id} ${e.tool} by ${e.agent}: [${e.before.rule_ids.join(', ')}] → [${e.after.rule_ids.join(', ')}] ${e.after.reasons.join('; ')}\n`,
      );
    }
  }
  return 0;
}

async function push(argv, io) {
  const { positionals } = parseFlags(argv, {});
  const file = positionals[0];
  const text = readBundle(file);
  const json = /\.json$/i.test(file);
  const r = await policy.call(io, 'PUT', '/v1/policy', text, json ? 'application/json' : 'application/yaml');
  io.stdout.write(`active: ${r.version} ${r.digest} (since ${r.activated_at})\n`);
  return 0;
}

async function activate(argv, io) {
  const { positionals } = parseFlags(argv, {});
  if (!positionals[0]) throw new UsageError('policy activate needs a digest (see: warden policy show --bundles)');
  const r = await policy.call(io, 'PUT', '/v1/policy/active', { digest: positionals[0] });
  io.stdout.write(`active: ${r.version} ${r.digest} (since ${r.activated_at})\n`);
  return 0;
}

async function show(argv, io) {
  const { flags } = parseFlags(argv, { bundles: 'boolean', source: 'string', json: 'boolean' });
  if (flags.source) {
    const r = await policy.call(io, 'GET', `/v1/policy/bundles/${encodeURIComponent(flags.source)}`);
    io.stdout.write(
      flags.json ? `${JSON.stringify(r, null, 2)}\n` : r.source.endsWith('\n') ? r.source : `${r.source}\n`,
    );
    return 0;
  }
  if (flags.bundles) {
    const list = await policy.call(io, 'GET', '/v1/policy/bundles');
    if (flags.json) io.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
    else
      for (const b of list)
        io.stdout.write(
          `${b.active ? '*' : ' '} ${b.digest}  ${b.version.padEnd(24)} stored ${b.created_at} by ${b.created_by}` +
            `${b.last_activated_at ? `, last active ${b.last_activated_at}` : ''}\n`,
        );
    return 0;
  }
  const r = await policy.call(io, 'GET', '/v1/policy');
  io.stdout.write(
    flags.json ? `${JSON.stringify(r, null, 2)}\n` : `${r.version} ${r.digest} (active since ${r.activated_at})\n`,
  );
  return 0;
}

async function replay(argv, io) {
  const { flags, positionals } = parseFlags(argv, { since: 'string', limit: 'string', json: 'boolean' });
  if (!positionals[0] && !flags.since) throw new UsageError('replay needs a run id, or --since 24h');
  if (positionals[0]) {
    const r = await policy.call(io, 'GET', `/v1/decisions/${encodeURIComponent(positionals[0])}/replay`);
    if (flags.json) io.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    else {
      io.stdout.write(
        `${r.run_id} under ${r.policy_digest}: ${r.identical ? 'reproduced exactly' : 'DIFFERS'} ` +
          `(${r.replayed.outcome}${r.replayed.outcome === 'escalate' ? ` tier ${r.replayed.tier}` : ''} [${r.replayed.rule_ids.join(', ')}])\n`,
      );
      for (const d of r.differences) io.stdout.write(`  ${d}\n`);
    }
    return r.identical ? 0 : 3;
  }
  const body = { since: flags.since };
  if (flags.limit) body.limit = positiveInt(flags.limit, 'limit');
  const r = await policy.call(io, 'POST', '/v1/policy/replay', body);
  if (flags.json) io.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  else {
    io.stdout.write(`${r.replayed} replayed, ${r.identical} identical, ${r.different.length} different\n`);
    for (const d of r.different) io.stdout.write(`  ${d.run_id}: ${d.differences.join('; ')}\n`);
  }
  return r.different.length ? 3 : 0;
}

const SUB = { test, whatif, push, activate, show };

module.exports = {
  usage,
  commands: {
    policy: command(async (argv, io) => {
      const [sub, ...rest] = argv;
      const fn = SUB[sub];
      if (!fn) throw new UsageError(`policy needs one of: ${Object.keys(SUB).join(', ')}`);
      return fn(rest, io);
    }),
    replay: command(replay),
  },
};
