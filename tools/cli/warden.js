#!/usr/bin/env node
'use strict';
/**
 * The `warden` CLI. `submit` publishes a TaskSubmission over JetStream; `runs` reads the
 * orchestrator's REST API; the other groups live in their own modules (GROUPS). Exit codes: 0 ok,
 * 1 error, 2 usage, 3 a waited-for run ended other than `succeeded` (or a replay differs).
 */
const fs = require('node:fs');
const path = require('node:path');
const { randomBytes, randomUUID } = require('node:crypto');
const { UsageError, parseFlags, parseAssignments, positiveInt } = require('./args');
const { CliError, operatorToken, describeProblem, apiClient } = require('./http');
const { table } = require('./format');

const ROOT = path.resolve(__dirname, '..', '..');
const TERMINAL = new Set(['succeeded', 'failed', 'denied', 'rejected', 'expired', 'cancelled']);
// uuid v5 namespace for run ids the CLI derives from (agent, idempotency key)
const CLI_RUN_NAMESPACE = '0b6f0d4e-8e0f-4f1c-a2a3-6c7f2d9b7e51';
// command groups in their own modules: { commands: { name: (argv, env, io) => exit code }, usage }
const GROUPS = ['policy', 'approvals', 'keys', 'mcp', 'signing', 'dlq', 'audit'];

function loadGroups() {
  const commands = {};
  const usage = [];
  for (const g of GROUPS) {
    const file = path.join(__dirname, `${g}.js`);
    if (!fs.existsSync(file)) continue;
    const mod = require(file);
    Object.assign(commands, mod.commands);
    if (mod.usage) usage.push(mod.usage.trim());
  }
  return { commands, usage };
}

const USAGE = `Usage: warden <command> [options]

Runs (submit: NATS_URL, default nats://127.0.0.1:4222; runs: ORCHESTRATOR_URL, default http://127.0.0.1:7103):
  submit <tool> [key=value | key:=json]...   propose an action (JetStream publish); prints the run id
      --agent <id>             agent id (default $WARDEN_AGENT_ID or "cli")
      --role <role>            agent role (default $WARDEN_AGENT_ROLE or "dev")
      --session <id>           session id
      --intent <text>          what the agent is trying to do
      --idempotency-key <k>    same agent + key => same run (also the Nats-Msg-Id)
      --run-id <uuid>          choose the run id (default: derived from the key, else random)
      --wait                   wait until the run is terminal; print status and result
      --timeout <s>            give up waiting after s seconds (default 120)
      --json                   with --wait, print the whole run as JSON
  runs [--status s] [--agent a] [--session s] [--limit n] [--cursor c] [--json]
                                             list runs, newest first
  runs get <run_id> [--json]                 one run with its decision, result and events
  help                                       this text
  key=value sets a string argument; key:=json parses JSON (numbers, booleans, objects).
  Example: warden submit fs.write_file path=notes/a.md content=hi --wait`;

const FOOTER = `Environment: NATS_URL, WARDEN_SUBJECT_PREFIX (warden), INGEST_URL, POLICY_URL,
ORCHESTRATOR_URL, APPROVALS_URL (see each section). Token for every HTTP call: WARDEN_TOKEN, else
WARDEN_BOOTSTRAP_ADMIN_TOKEN, else var/admin.token (as written by npm start).

Exit codes: 0 ok, 1 error (API refused, unreachable, no or bad token), 2 usage,
3 the waited-for run ended other than succeeded, or a replay differs.`;

function subjectPrefix(env) {
  const prefix = env.WARDEN_SUBJECT_PREFIX || 'warden';
  if (!/^[a-z][a-z0-9_-]*$/.test(prefix)) throw new CliError(`WARDEN_SUBJECT_PREFIX "${prefix}" is not a valid prefix`);
  return prefix;
}

const orchestrator = apiClient({
  name: 'the orchestrator',
  urlVar: 'ORCHESTRATOR_URL',
  defaultUrl: 'http://127.0.0.1:7103',
  timeoutMs: 10_000,
});

/** Same agent + idempotency key always yields the same run id, so a retried submit names the same run. */
function deriveRunId(agentId, key) {
  const { v5 } = require('uuid');
  return v5(`${agentId}\u0000${key}`, CLI_RUN_NAMESPACE);
}

/** Builds the TaskSubmission and its Nats-Msg-Id from `submit` arguments. */
function buildSubmission(positionals, flags, env) {
  const [tool, ...rest] = positionals;
  if (!tool) throw new UsageError('submit needs a tool, e.g. warden submit fs.read_file path=README.md');
  const agentId = flags.agent || env.WARDEN_AGENT_ID || 'cli';
  const key = flags['idempotency-key'];
  const submission = {
    run_id: flags['run-id'] || (key ? deriveRunId(agentId, key) : randomUUID()),
    ...(key ? { idempotency_key: key } : {}),
    agent: { id: agentId, role: flags.role || env.WARDEN_AGENT_ROLE || 'dev' },
    ...(flags.session ? { session_id: flags.session } : {}),
    action: { tool, args: parseAssignments(rest) },
    ...(flags.intent ? { intent: flags.intent } : {}),
  };
  return { submission, msgId: key || submission.run_id };
}

/** Field errors from the built contracts, when they are built; ingest validates again anyway. */
function validateLocally(submission) {
  let contracts;
  try {
    contracts = require('@warden/contracts');
  } catch {
    return [];
  }
  const r = contracts.parseWith(contracts.TaskSubmission, submission);
  return r.ok ? [] : r.errors;
}

async function submit(argv, io) {
  const { flags, positionals } = parseFlags(argv, {
    agent: 'string',
    role: 'string',
    session: 'string',
    intent: 'string',
    'idempotency-key': 'string',
    'run-id': 'string',
    wait: 'boolean',
    timeout: 'string',
    json: 'boolean',
  });
  const timeoutS = flags.timeout === undefined ? 120 : positiveInt(flags.timeout, 'timeout');
  const { submission, msgId } = buildSubmission(positionals, flags, io.env);
  const errors = validateLocally(submission);
  if (errors.length) {
    throw new CliError(`invalid submission:\n${errors.map((e) => `  ${e.path || '(root)'}: ${e.message}`).join('\n')}`);
  }
  const prefix = subjectPrefix(io.env);
  const natsUrl = io.env.NATS_URL || 'nats://127.0.0.1:4222';

  const { connect } = require('@nats-io/transport-node');
  const { jetstream } = require('@nats-io/jetstream');
  const { headers } = require('@nats-io/nats-core');
  let nc;
  try {
    nc = await connect({ servers: natsUrl.split(',').map((s) => s.trim()), name: 'warden-cli', timeout: 5000 });
  } catch (err) {
    throw new CliError(`cannot connect to NATS at ${natsUrl}: ${err.message}`);
  }
  try {
    // listen for a rejection before publishing so it cannot be missed
    const rejected = flags.wait && /^[A-Za-z0-9_-]{1,200}$/.test(msgId) ? watchRejection(nc, prefix, msgId) : undefined;
    const h = headers();
    h.set('traceparent', `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`);
    let ack;
    try {
      ack = await jetstream(nc, { timeout: 5000 }).publish(`${prefix}.ingest.tasks`, JSON.stringify(submission), {
        msgID: msgId,
        headers: h,
      });
    } catch (err) {
      throw new CliError(`publish to ${prefix}.ingest.tasks failed: ${err.message} (is ingest's stream provisioned?)`);
    }
    io.stdout.write(`${submission.run_id}\n`);
    if (ack.duplicate)
      io.stderr.write(`note: the broker already had message ${msgId}; this names the first submission's run\n`);
    if (!flags.wait) return 0;
    return await waitForRun(submission.run_id, { timeoutS, json: flags.json, rejected: rejected?.promise }, io).finally(
      () => rejected?.stop(),
    );
  } finally {
    await nc.close().catch(() => undefined);
  }
}

/** Resolves with the task_rejected envelope published for this submission, if ingest rejects it. */
function watchRejection(nc, prefix, msgId) {
  const sub = nc.subscribe(`${prefix}.events.rejected.${msgId}.task_rejected`, { max: 1 });
  const promise = (async () => {
    for await (const m of sub) {
      try {
        return JSON.parse(new TextDecoder().decode(m.data));
      } catch {
        return { data: { errors: [{ path: '', message: 'rejected (unreadable event)' }] } };
      }
    }
    return undefined;
  })();
  return { promise, stop: () => sub.unsubscribe() };
}

async function waitForRun(runId, opts, io) {
  const deadline = Date.now() + opts.timeoutS * 1000;
  let lastStatus;
  let lastError = 'no answer yet';
  let rejection;
  // settles only when a rejection actually arrived (never if the subscription just ended)
  const rejectedSignal = opts.rejected?.then((env) =>
    env
      ? void (rejection = env)
      : new Promise(() => {
          /* never */
        }),
  );
  while (Date.now() < deadline) {
    if (rejection) {
      io.stdout.write('status: rejected\n');
      for (const e of rejection.data?.errors ?? []) io.stdout.write(`  ${e.path || '(root)'}: ${e.message}\n`);
      return 3;
    }
    let r;
    try {
      r = await orchestrator.request(io, 'GET', `/v1/runs/${encodeURIComponent(runId)}`);
    } catch (err) {
      lastError = err.message;
      r = undefined;
    }
    if (r) {
      orchestrator.failOnAuth(r);
      if (r.status === 200 && r.body && typeof r.body === 'object') {
        const run = r.body;
        if (run.status !== lastStatus) {
          io.stderr.write(`… ${run.status}\n`);
          lastStatus = run.status;
        }
        if (TERMINAL.has(run.status)) return printFinal(run, opts, io);
      } else if (r.status !== 404) {
        lastError = describeProblem(r);
      } else {
        lastError = 'run not known to the orchestrator yet';
      }
    }
    // wake early when the rejection arrives
    await Promise.race([new Promise((res) => setTimeout(res, 500)), rejectedSignal].filter(Boolean));
  }
  throw new CliError(`run ${runId} not terminal after ${opts.timeoutS} s (last status: ${lastStatus || lastError})`);
}

function printFinal(run, opts, io) {
  if (opts.json) io.stdout.write(`${JSON.stringify(run, null, 2)}\n`);
  else {
    io.stdout.write(`status: ${run.status}\n`);
    if (run.decision) {
      const d = run.decision;
      io.stdout.write(
        `decision: ${d.outcome} (tier ${d.tier}${d.rule_ids?.length ? `, rules ${d.rule_ids.join(', ')}` : ''})\n`,
      );
      for (const reason of d.reasons ?? []) io.stdout.write(`  ${reason}\n`);
    }
    if (run.result !== undefined && run.result !== null)
      io.stdout.write(`result: ${JSON.stringify(run.result, null, 2)}\n`);
  }
  return run.status === 'succeeded' ? 0 : 3;
}

async function runs(argv, io) {
  if (argv[0] === 'get') {
    const { flags, positionals } = parseFlags(argv.slice(1), { json: 'boolean' });
    if (positionals.length !== 1) throw new UsageError('usage: warden runs get <run_id>');
    const r = await orchestrator.request(io, 'GET', `/v1/runs/${encodeURIComponent(positionals[0])}`);
    orchestrator.failOnAuth(r);
    if (r.status === 404) throw new CliError(`run ${positionals[0]} not found`);
    if (r.status !== 200) throw new CliError(describeProblem(r));
    io.stdout.write(flags.json ? `${JSON.stringify(r.body, null, 2)}\n` : formatRun(r.body));
    return 0;
  }
  const { flags, positionals } = parseFlags(argv, {
    status: 'string',
    agent: 'string',
    session: 'string',
    limit: 'string',
    cursor: 'string',
    json: 'boolean',
  });
  if (positionals.length)
    throw new UsageError(`unexpected argument "${positionals[0]}" (did you mean: warden runs get <id>?)`);
  const q = new URLSearchParams();
  if (flags.status) q.set('status', flags.status);
  if (flags.agent) q.set('agent_id', flags.agent);
  if (flags.session) q.set('session_id', flags.session);
  if (flags.limit) q.set('limit', String(positiveInt(flags.limit, 'limit')));
  if (flags.cursor) q.set('cursor', flags.cursor);
  const qs = q.toString();
  const r = await orchestrator.request(io, 'GET', `/v1/runs${qs ? `?${qs}` : ''}`);
  orchestrator.failOnAuth(r);
  if (r.status !== 200) throw new CliError(describeProblem(r));
  if (flags.json) {
    io.stdout.write(`${JSON.stringify(r.body, null, 2)}\n`);
    return 0;
  }
  const list = Array.isArray(r.body) ? r.body : (r.body?.items ?? r.body?.runs ?? r.body?.data ?? []);
  io.stdout.write(formatRunTable(list));
  const next = r.body && !Array.isArray(r.body) ? (r.body.next_cursor ?? r.body.cursor) : undefined;
  if (next) io.stdout.write(`more: warden runs --cursor ${next}\n`);
  return 0;
}

/** One run for people: its summary, decision, result and event timeline. */
function formatRun(run) {
  const lines = [
    `run:      ${run.run_id}`,
    `status:   ${run.status}`,
    `agent:    ${run.agent?.id ?? ''}${run.agent?.role ? ` (${run.agent.role})` : ''}${run.session_id ? `, session ${run.session_id}` : ''}`,
    `action:   ${run.action?.tool ?? ''} ${run.action ? JSON.stringify(run.action.args ?? {}) : ''}`,
    `trace:    ${run.trace_id ?? ''}`,
    `created:  ${run.created_at ?? ''}   updated: ${run.updated_at ?? ''}`,
  ];
  if (run.decision) {
    const d = run.decision;
    lines.push(
      `decision: ${d.outcome} (tier ${d.tier}, ${d.mode ?? 'enforce'}) rules: ${(d.rule_ids ?? []).join(', ') || '-'}`,
    );
    for (const reason of d.reasons ?? []) lines.push(`          ${reason}`);
  }
  if (run.approval) lines.push(`approval: ${JSON.stringify(run.approval)}`);
  if (run.result !== undefined && run.result !== null) lines.push(`result:   ${JSON.stringify(run.result)}`);
  const events = Array.isArray(run.events) ? run.events : [];
  if (events.length) {
    lines.push('events:');
    for (const e of events)
      lines.push(`  ${e.occurred_at ?? ''}  ${String(e.type ?? '').padEnd(20)} ${e.producer ?? ''}`);
  }
  return `${lines.join('\n')}\n`;
}

/** A plain-text table of runs (no colors, so it pipes cleanly). */
function formatRunTable(list) {
  if (list.length === 0) return 'no runs\n';
  const rows = list.map((run) => [
    run.run_id ?? '',
    run.status ?? '',
    run.agent?.id ?? run.agent_id ?? '',
    run.action?.tool ?? run.tool ?? '',
    run.created_at ?? '',
  ]);
  const header = ['RUN_ID', 'STATUS', 'AGENT', 'TOOL', 'CREATED_AT'];
  return `${table([header, ...rows])}\n`;
}

/** The usage text with every command group's section. */
function fullUsage() {
  return [USAGE, ...loadGroups().usage, FOOTER].join('\n\n');
}

/**
 * Runs the CLI with `argv` (without node and script) and returns the exit code.
 * `io` lets tests capture output and set the environment.
 */
async function main(argv, io = { stdout: process.stdout, stderr: process.stderr, env: process.env, root: ROOT }) {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'submit':
        return await submit(rest, io);
      case 'runs':
        return await runs(rest, io);
      case undefined:
      case 'help':
      case '-h':
      case '--help':
        (command ? io.stdout : io.stderr).write(`${fullUsage()}\n`);
        return command ? 0 : 2;
      default:
        {
          const group = loadGroups().commands[command];
          if (group) return await group(rest, io.env, io);
        }
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`warden: ${err.message}\n(see: warden help)\n`);
      return 2;
    }
    if (err instanceof CliError) {
      io.stderr.write(`warden: ${err.message}\n`);
      return 1;
    }
    io.stderr.write(`warden: ${err && err.stack ? err.stack : err}\n`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}

module.exports = {
  main,
  buildSubmission,
  deriveRunId,
  operatorToken,
  waitForRun,
  formatRun,
  formatRunTable,
  describeProblem,
  USAGE,
};
