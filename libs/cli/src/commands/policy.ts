/**
 * `warden policy …` and `warden replay …`: test a bundle locally (like `opa test`, with the policy
 * language in-process), see what a candidate would change over recorded decisions, push and roll back
 * bundles, replay decisions (POLICY_URL, operator token).
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { LoadedBundle } from '@warden/policy-language';
import { positiveInt } from '../args';
import { CliError, EXIT, UsageError } from '../errors';
import { json } from '../format';
import { api } from '../http';
import type { Io } from '../io';
import { act, group, type CommandModule, type Context } from '../program';

const usage = `Policy (POLICY_URL, default {policy}):
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

const SUBCOMMANDS = ['test', 'whatif', 'push', 'activate', 'show'];

interface Verdictish {
  outcome: string;
  tier?: number;
  rule_ids: string[];
  reasons: string[];
}
interface ActiveBundle {
  version: string;
  digest: string;
  activated_at: string;
}
interface StoredBundle {
  digest: string;
  version: string;
  active: boolean;
  created_at: string;
  created_by: string;
  last_activated_at?: string | null;
}
interface WhatIfExample {
  run_id: string;
  tool: string;
  agent: string;
  before: Verdictish;
  after: Verdictish;
}
interface WhatIfAnswer {
  candidate: { version: string; digest: string };
  evaluated: number;
  since: string;
  unchanged: number;
  changed: number;
  transitions: Record<string, number>;
  examples: Record<string, WhatIfExample[]>;
}
interface ReplayAnswer {
  run_id: string;
  policy_digest: string;
  identical: boolean;
  replayed: Verdictish;
  differences: string[];
}
interface ReplayAllAnswer {
  replayed: number;
  identical: number;
  different: { run_id: string; differences: string[] }[];
}

const policy = api.policy();

function readBundle(file: string | undefined): string {
  if (!file) throw new UsageError('needs a bundle file, e.g. deploy/policies/default.yaml');
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`);
  }
}

const verdictText = (v: Verdictish) =>
  `${v.outcome}${v.outcome === 'escalate' ? ` tier ${v.tier}` : ''} [${v.rule_ids.join(', ')}]`;

/** `warden policy test <bundle>`: validation errors exit 1; failing tests exit 1; all green 0. */
async function test(file: string | undefined, o: { json?: boolean }, io: Io): Promise<number> {
  const text = readBundle(file);
  // the policy language (CEL, RE2, YAML, zod) loads only for `policy test`
  const { parseBundle, runPolicyTests } = await import('@warden/policy-language');
  const { ValidationError } = await import('@warden/kernel');
  let loaded: LoadedBundle;
  try {
    loaded = parseBundle(text);
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    io.stderr.write(`${file} is not a valid bundle:\n`);
    for (const e of err.errors) io.stderr.write(`  ${e.path || '(root)'}: ${e.message}\n`);
    return EXIT.error;
  }
  const results = runPolicyTests(loaded);
  const failed = results.filter((r) => !r.passed);
  if (o.json) {
    io.stdout.write(json({ digest: loaded.digest, version: loaded.bundle.version, results }));
    return failed.length ? EXIT.error : EXIT.ok;
  }
  io.stdout.write(`${loaded.bundle.version} ${loaded.digest}\n`);
  for (const r of results) {
    io.stdout.write(`  ${r.passed ? 'PASS' : 'FAIL'}  ${r.name}  → ${verdictText(r.verdict)}\n`);
    for (const f of r.failures) io.stdout.write(`        ${f}\n`);
  }
  if (!results.length) io.stdout.write('  (the bundle has no tests)\n');
  io.stdout.write(`${results.length - failed.length} passed, ${failed.length} failed\n`);
  return failed.length ? EXIT.error : EXIT.ok;
}

async function whatif(
  file: string | undefined,
  o: { since?: string; limit?: string; json?: boolean },
  io: Io,
): Promise<number> {
  const body = {
    bundle: readBundle(file),
    since: o.since || '24h',
    ...(o.limit ? { limit: positiveInt(o.limit, 'limit') } : {}),
  };
  const r = await policy.call<WhatIfAnswer>(io, 'POST', '/v1/policy/whatif', body);
  if (o.json) {
    io.stdout.write(json(r));
    return EXIT.ok;
  }
  io.stdout.write(
    `candidate ${r.candidate.version} ${r.candidate.digest}\n` +
      `${r.evaluated} decisions since ${r.since}: ${r.unchanged} unchanged, ${r.changed} would change\n`,
  );
  const keys = Object.keys(r.transitions).sort((a, b) => (r.transitions[b] ?? 0) - (r.transitions[a] ?? 0));
  for (const k of keys) {
    io.stdout.write(`  ${String(r.transitions[k]).padStart(6)} ${k}\n`);
    for (const e of r.examples[k] ?? []) {
      io.stdout.write(
        `           e.g. run ${e.run_id} ${e.tool} by ${e.agent}: [${e.before.rule_ids.join(', ')}] → [${e.after.rule_ids.join(', ')}] ${e.after.reasons.join('; ')}\n`,
      );
    }
  }
  return EXIT.ok;
}

async function push(file: string | undefined, io: Io): Promise<number> {
  const text = readBundle(file);
  const contentType = /\.json$/i.test(file ?? '') ? 'application/json' : 'application/yaml';
  const r = await policy.call<ActiveBundle>(io, 'PUT', '/v1/policy', text, contentType);
  io.stdout.write(`active: ${r.version} ${r.digest} (since ${r.activated_at})\n`);
  return EXIT.ok;
}

async function activate(digest: string | undefined, io: Io): Promise<number> {
  if (!digest) throw new UsageError('policy activate needs a digest (see: warden policy show --bundles)');
  const r = await policy.call<ActiveBundle>(io, 'PUT', '/v1/policy/active', { digest });
  io.stdout.write(`active: ${r.version} ${r.digest} (since ${r.activated_at})\n`);
  return EXIT.ok;
}

async function show(o: { bundles?: boolean; source?: string; json?: boolean }, io: Io): Promise<number> {
  if (o.source) {
    const r = await policy.call<{ source: string }>(io, 'GET', `/v1/policy/bundles/${encodeURIComponent(o.source)}`);
    io.stdout.write(o.json ? json(r) : r.source.endsWith('\n') ? r.source : `${r.source}\n`);
    return EXIT.ok;
  }
  if (o.bundles) {
    const list = await policy.call<StoredBundle[]>(io, 'GET', '/v1/policy/bundles');
    if (o.json) io.stdout.write(json(list));
    else
      for (const b of list)
        io.stdout.write(
          `${b.active ? '*' : ' '} ${b.digest}  ${b.version.padEnd(24)} stored ${b.created_at} by ${b.created_by}` +
            `${b.last_activated_at ? `, last active ${b.last_activated_at}` : ''}\n`,
        );
    return EXIT.ok;
  }
  const r = await policy.call<ActiveBundle>(io, 'GET', '/v1/policy');
  io.stdout.write(o.json ? json(r) : `${r.version} ${r.digest} (active since ${r.activated_at})\n`);
  return EXIT.ok;
}

async function replay(
  runId: string | undefined,
  o: { since?: string; limit?: string; json?: boolean },
  io: Io,
): Promise<number> {
  if (!runId && !o.since) throw new UsageError('replay needs a run id, or --since 24h');
  if (runId) {
    const r = await policy.call<ReplayAnswer>(io, 'GET', `/v1/decisions/${encodeURIComponent(runId)}/replay`);
    if (o.json) io.stdout.write(json(r));
    else {
      io.stdout.write(
        `${r.run_id} under ${r.policy_digest}: ${r.identical ? 'reproduced exactly' : 'DIFFERS'} (${verdictText(r.replayed)})\n`,
      );
      for (const d of r.differences) io.stdout.write(`  ${d}\n`);
    }
    return r.identical ? EXIT.ok : EXIT.differs;
  }
  const body = { since: o.since, ...(o.limit ? { limit: positiveInt(o.limit, 'limit') } : {}) };
  const r = await policy.call<ReplayAllAnswer>(io, 'POST', '/v1/policy/replay', body);
  if (o.json) io.stdout.write(json(r));
  else {
    io.stdout.write(`${r.replayed} replayed, ${r.identical} identical, ${r.different.length} different\n`);
    for (const d of r.different) io.stdout.write(`  ${d.run_id}: ${d.differences.join('; ')}\n`);
  }
  return r.different.length ? EXIT.differs : EXIT.ok;
}

function register(program: Command, ctx: Context): void {
  const p = group(
    program,
    'policy',
    'test, compare, push and roll back policy bundles (POLICY_URL)',
    () => `policy needs one of: ${SUBCOMMANDS.join(', ')}`,
  );
  p.command('test')
    .description("run the bundle's own tests in-process (exit 1 if any fails or the bundle is invalid)")
    .argument('[bundle]', 'a bundle file (YAML or JSON)')
    .option('--json', 'digest, version and every result as JSON')
    .action(act(ctx, (file: string | undefined, o: { json?: boolean }) => test(file, o, ctx.io)));
  p.command('whatif')
    .description('what the candidate would change over recorded decisions')
    .argument('[bundle]', 'the candidate bundle file')
    .option('--since <when>', 'decisions since then: 24h, 30m, 7d or an ISO time (default 24h)')
    .option('--limit <n>', 'at most n decisions')
    .option('--json', 'the report as JSON')
    .action(
      act(ctx, (file: string | undefined, o: { since?: string; limit?: string; json?: boolean }) =>
        whatif(file, o, ctx.io),
      ),
    );
  p.command('push')
    .description('validate, store and activate on every replica (admin)')
    .argument('[bundle]', 'the bundle file (.json is sent as JSON, anything else as YAML)')
    .action(act(ctx, (file: string | undefined) => push(file, ctx.io)));
  p.command('activate')
    .description('activate a stored bundle: rollback (admin)')
    .argument('[digest]', 'sha256:… of a stored bundle (see: warden policy show --bundles)')
    .action(act(ctx, (digest: string | undefined) => activate(digest, ctx.io)));
  p.command('show')
    .description("the active bundle; stored bundles; a stored bundle's text")
    .option('--bundles', 'every stored bundle (* = active)')
    .option('--source <digest>', "a stored bundle's text")
    .option('--json', 'as JSON')
    .action(act(ctx, (o: { bundles?: boolean; source?: string; json?: boolean }) => show(o, ctx.io)));

  program
    .command('replay')
    .description(
      're-evaluate a recorded decision under its recorded bundle, or every one since a time (exit 3 if any differs)',
    )
    .argument('[run_id]')
    .option('--since <when>', 'every decision since then, e.g. 24h')
    .option('--limit <n>', 'at most n decisions')
    .option('--json', 'the result as JSON')
    .action(
      act(ctx, (runId: string | undefined, o: { since?: string; limit?: string; json?: boolean }) =>
        replay(runId, o, ctx.io),
      ),
    );
}

export const policyCommands: CommandModule = { usage, register };
