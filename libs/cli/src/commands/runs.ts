/**
 * `warden submit` publishes a TaskSubmission over JetStream (and can wait for the run); `warden runs`
 * reads the orchestrator's REST API.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import type { PubAck } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { v5 as uuidv5 } from 'uuid';
import { parseAssignments, positiveInt } from '../args';
import { CliError, EXIT, UsageError } from '../errors';
import { json, table } from '../format';
import { api, defaultUrl, describeProblem } from '../http';
import type { Io } from '../io';
import { act, type CommandModule, type Context } from '../program';

// uuid v5 namespace for run ids the CLI derives from (agent, idempotency key)
const CLI_RUN_NAMESPACE = '0b6f0d4e-8e0f-4f1c-a2a3-6c7f2d9b7e51';

const usage = `Runs (submit: NATS_URL, default {nats}; runs: ORCHESTRATOR_URL, default {orchestrator}):
  submit <tool> [key=value | key:=json]...   propose an action (JetStream publish); prints the run id
      --agent <id>             agent id (default $WARDEN_AGENT_ID or "cli")
      --role <role>            agent role (default $WARDEN_AGENT_ROLE or "dev")
      --session <id>           session id
      --intent <text>          what the agent is trying to do
      --idempotency-key <k>    same agent + key => same run (also the Nats-Msg-Id)
      --run-id <uuid>          choose the run id (default: derived from the key, else random)
      --wait                   wait until the run is terminal; print status, decision (with its mode) and result
      --timeout <s>            give up waiting after s seconds (default 120)
      --json                   with --wait, print the whole run as JSON (on a timeout: run id, last status, error)
  runs [--status s] [--agent a] [--session s] [--limit n] [--cursor c] [--json]
                                             list runs, newest first
  runs get <run_id> [--json]                 one run with its decision, result and events
  help [command]                             this text, or one command's options
  key=value sets a string argument; key:=json parses JSON (numbers, booleans, objects).
  Example: warden submit fs.write_file path=notes/a.md content=hi --wait`;

/** `submit`'s options as commander gives them. */
export interface SubmitOptions {
  agent?: string;
  role?: string;
  session?: string;
  intent?: string;
  idempotencyKey?: string;
  runId?: string;
  wait?: boolean;
  timeout?: string;
  json?: boolean;
}

interface RunsOptions {
  status?: string;
  agent?: string;
  session?: string;
  limit?: string;
  cursor?: string;
  json?: boolean;
}

/** A decision as the orchestrator shows it on a run. */
export interface RunDecision {
  outcome: string;
  tier: number;
  mode?: 'enforce' | 'observe';
  rule_ids?: string[];
  reasons?: string[];
}

/** A run as `GET /v1/runs/{id}` answers (the fields the CLI prints). */
export interface RunView {
  run_id: string;
  status: string;
  agent?: { id?: string; role?: string };
  agent_id?: string;
  session_id?: string;
  action?: { tool?: string; args?: unknown };
  tool?: string;
  trace_id?: string;
  created_at?: string;
  updated_at?: string;
  decision?: RunDecision | null;
  approval?: unknown;
  result?: unknown;
  events?: { occurred_at?: string; type?: string; producer?: string }[];
}

/** A task_rejected envelope (what the CLI reads of it). */
interface Rejection {
  data?: { errors?: { path?: string; message?: string }[] };
}

const orchestrator = api.orchestrator(undefined, 10_000);

/** Same agent + idempotency key always yields the same run id, so a retried submit names the same run. */
export function deriveRunId(agentId: string, key: string): string {
  return uuidv5(`${agentId}\u0000${key}`, CLI_RUN_NAMESPACE);
}

/** Builds the TaskSubmission and its Nats-Msg-Id from `submit` arguments. */
export function buildSubmission(
  tool: string | undefined,
  assignments: readonly string[],
  o: SubmitOptions,
  env: Io['env'],
): { submission: Record<string, unknown> & { run_id: string }; msgId: string } {
  if (!tool) throw new UsageError('submit needs a tool, e.g. warden submit fs.read_file path=README.md');
  const agentId = o.agent || env.WARDEN_AGENT_ID || 'cli';
  const key = o.idempotencyKey;
  const submission = {
    run_id: o.runId || (key ? deriveRunId(agentId, key) : randomUUID()),
    ...(key ? { idempotency_key: key } : {}),
    agent: { id: agentId, role: o.role || env.WARDEN_AGENT_ROLE || 'dev' },
    ...(o.session ? { session_id: o.session } : {}),
    action: { tool, args: parseAssignments(assignments) },
    ...(o.intent ? { intent: o.intent } : {}),
  };
  return { submission, msgId: key || submission.run_id };
}

function subjectPrefix(env: Io['env']): string {
  const prefix = env.WARDEN_SUBJECT_PREFIX || 'warden';
  if (!/^[a-z][a-z0-9_-]*$/.test(prefix)) throw new CliError(`WARDEN_SUBJECT_PREFIX "${prefix}" is not a valid prefix`);
  return prefix;
}

async function submit(tool: string | undefined, assignments: string[], o: SubmitOptions, io: Io): Promise<number> {
  const timeoutS = o.timeout === undefined ? 120 : positiveInt(o.timeout, 'timeout');
  const { submission, msgId } = buildSubmission(tool, assignments, o, io.env);
  // the heavy modules (zod schemas, the NATS client) load only for the command that needs them
  const { TaskSubmission, parseWith } = await import('@warden/contracts');
  const { connect } = await import('@nats-io/transport-node');
  const { jetstream } = await import('@nats-io/jetstream');
  const { headers } = await import('@nats-io/nats-core');
  const checked = parseWith(TaskSubmission, submission);
  if (!checked.ok) {
    throw new CliError(
      `invalid submission:\n${checked.errors.map((e) => `  ${e.path || '(root)'}: ${e.message}`).join('\n')}`,
    );
  }
  const prefix = subjectPrefix(io.env);
  const natsUrl = io.env.NATS_URL || (await defaultUrl('nats'));
  let nc: NatsConnection;
  try {
    nc = await connect({ servers: natsUrl.split(',').map((s) => s.trim()), name: 'warden-cli', timeout: 5000 });
  } catch (err) {
    throw new CliError(`cannot connect to NATS at ${natsUrl}: ${(err as Error).message}`);
  }
  try {
    // listen for a rejection before publishing so it cannot be missed
    const rejected = o.wait && /^[A-Za-z0-9_-]{1,200}$/.test(msgId) ? watchRejection(nc, prefix, msgId) : undefined;
    const h = headers();
    h.set('traceparent', `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`);
    let ack: PubAck;
    try {
      ack = await jetstream(nc, { timeout: 5000 }).publish(`${prefix}.ingest.tasks`, JSON.stringify(submission), {
        msgID: msgId,
        headers: h,
      });
    } catch (err) {
      throw new CliError(
        `publish to ${prefix}.ingest.tasks failed: ${(err as Error).message} (is ingest's stream provisioned?)`,
      );
    }
    io.stdout.write(`${submission.run_id}\n`);
    if (ack.duplicate)
      io.stderr.write(`note: the broker already had message ${msgId}; this names the first submission's run\n`);
    if (!o.wait) return EXIT.ok;
    try {
      return await waitForRun(submission.run_id, { timeoutS, json: o.json, rejected: rejected?.promise }, io);
    } finally {
      rejected?.stop();
    }
  } finally {
    await nc.close().catch(() => undefined);
  }
}

/** Resolves with the task_rejected envelope published for this submission, if ingest rejects it. */
function watchRejection(nc: NatsConnection, prefix: string, msgId: string) {
  const sub = nc.subscribe(`${prefix}.events.rejected.${msgId}.task_rejected`, { max: 1 });
  const promise = (async (): Promise<Rejection | undefined> => {
    for await (const m of sub) {
      try {
        return JSON.parse(new TextDecoder().decode(m.data)) as Rejection;
      } catch {
        return { data: { errors: [{ path: '', message: 'rejected (unreadable event)' }] } };
      }
    }
    return undefined;
  })();
  return { promise, stop: () => sub.unsubscribe() };
}

export interface WaitOptions {
  timeoutS: number;
  json?: boolean;
  /** settles with the task_rejected envelope if ingest rejects the submission (undefined: the watch ended) */
  rejected?: Promise<Rejection | undefined>;
}

/**
 * Polls the run until it is terminal, printing each new status on stderr; then prints the outcome
 * (exit 0 if succeeded, else 3). On a timeout it fails (exit 1); with `json` it first prints
 * `{run_id, status, timed_out: true, error}` on stdout, so a script always gets an object.
 */
export async function waitForRun(runId: string, opts: WaitOptions, io: Io): Promise<number> {
  const deadline = Date.now() + opts.timeoutS * 1000;
  const { TERMINAL_STATUSES } = await import('@warden/contracts');
  const terminal = (status: string) => (TERMINAL_STATUSES as readonly string[]).includes(status);
  let lastStatus: string | undefined;
  let lastError = 'no answer yet';
  let rejection: Rejection | undefined;
  // settles only when a rejection actually arrived (never if the subscription just ended)
  const rejectedSignal = opts.rejected?.then((env) =>
    env
      ? void (rejection = env)
      : new Promise<void>(() => {
          /* never */
        }),
  );
  while (Date.now() < deadline) {
    if (rejection) {
      const errors = rejection.data?.errors ?? [];
      if (opts.json) io.stdout.write(json({ run_id: runId, status: 'rejected', errors }));
      else {
        io.stdout.write('status: rejected\n');
        for (const e of errors) io.stdout.write(`  ${e.path || '(root)'}: ${e.message}\n`);
      }
      return EXIT.differs;
    }
    let r;
    try {
      r = await orchestrator.request(io, 'GET', `/v1/runs/${encodeURIComponent(runId)}`);
    } catch (err) {
      lastError = (err as Error).message;
      r = undefined;
    }
    if (r) {
      orchestrator.failOnAuth(r);
      if (r.status === 200 && r.body && typeof r.body === 'object') {
        const run = r.body as RunView;
        if (run.status !== lastStatus) {
          io.stderr.write(`… ${run.status}\n`);
          lastStatus = run.status;
        }
        if (terminal(run.status)) {
          io.stdout.write(opts.json ? json(run) : formatFinal(run));
          return run.status === 'succeeded' ? EXIT.ok : EXIT.differs;
        }
      } else if (r.status !== 404) {
        lastError = describeProblem(r);
      } else {
        lastError = 'run not known to the orchestrator yet';
      }
    }
    // wake early when the rejection arrives
    const tick = new Promise<void>((res) => setTimeout(res, 500));
    await (rejectedSignal ? Promise.race([tick, rejectedSignal]) : tick);
  }
  const message = `run ${runId} not terminal after ${opts.timeoutS} s (last status: ${lastStatus || lastError})`;
  if (opts.json) io.stdout.write(json({ run_id: runId, status: lastStatus ?? null, timed_out: true, error: message }));
  throw new CliError(message);
}

/** `decision: escalate (tier 2, observe, rules a, b)`: the outcome, its tier and mode, the rules that decided it. */
export function formatDecisionLine(d: RunDecision): string {
  const rules = d.rule_ids?.length ? `, rules ${d.rule_ids.join(', ')}` : '';
  return `decision: ${d.outcome} (tier ${d.tier}, ${d.mode ?? 'enforce'}${rules})`;
}

/** What `submit --wait` prints when the run is terminal: status, decision (with mode) and reasons, result. */
export function formatFinal(run: RunView): string {
  const lines = [`status: ${run.status}`];
  const d = run.decision;
  if (d) {
    lines.push(formatDecisionLine(d));
    if (d.mode === 'observe' && d.outcome !== 'allow')
      lines.push(`  observe mode: recorded as ${d.outcome}, not enforced; the action went ahead as allowed`);
    for (const reason of d.reasons ?? []) lines.push(`  ${reason}`);
  }
  if (run.result !== undefined && run.result !== null) lines.push(`result: ${JSON.stringify(run.result, null, 2)}`);
  return `${lines.join('\n')}\n`;
}

/** One run for people: its summary, decision, result and event timeline. */
export function formatRun(run: RunView): string {
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
export function formatRunTable(list: readonly RunView[]): string {
  if (list.length === 0) return 'no runs\n';
  const rows = list.map((run) => [
    run.run_id ?? '',
    run.status ?? '',
    run.agent?.id ?? run.agent_id ?? '',
    run.action?.tool ?? run.tool ?? '',
    run.created_at ?? '',
  ]);
  return `${table([['RUN_ID', 'STATUS', 'AGENT', 'TOOL', 'CREATED_AT'], ...rows])}\n`;
}

async function getRun(runId: string, o: { json?: boolean }, io: Io): Promise<number> {
  const r = await orchestrator.request(io, 'GET', `/v1/runs/${encodeURIComponent(runId)}`);
  orchestrator.failOnAuth(r);
  if (r.status === 404) throw new CliError(`run ${runId} not found`);
  if (r.status !== 200) throw new CliError(describeProblem(r));
  io.stdout.write(o.json ? json(r.body) : formatRun(r.body as RunView));
  return EXIT.ok;
}

async function listRuns(extra: readonly string[], o: RunsOptions, io: Io): Promise<number> {
  if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}" (did you mean: warden runs get <id>?)`);
  const q = new URLSearchParams();
  if (o.status) q.set('status', o.status);
  if (o.agent) q.set('agent_id', o.agent);
  if (o.session) q.set('session_id', o.session);
  if (o.limit) q.set('limit', String(positiveInt(o.limit, 'limit')));
  if (o.cursor) q.set('cursor', o.cursor);
  const qs = q.toString();
  const r = await orchestrator.request(io, 'GET', `/v1/runs${qs ? `?${qs}` : ''}`);
  orchestrator.failOnAuth(r);
  if (r.status !== 200) throw new CliError(describeProblem(r));
  if (o.json) {
    io.stdout.write(json(r.body));
    return EXIT.ok;
  }
  const body = r.body as
    RunView[] | { items?: RunView[]; runs?: RunView[]; data?: RunView[]; next_cursor?: string; cursor?: string };
  const list = Array.isArray(body) ? body : (body?.items ?? body?.runs ?? body?.data ?? []);
  io.stdout.write(formatRunTable(list));
  const next = body && !Array.isArray(body) ? (body.next_cursor ?? body.cursor) : undefined;
  if (next) io.stdout.write(`more: warden runs --cursor ${next}\n`);
  return EXIT.ok;
}

function register(program: Command, ctx: Context): void {
  program
    .command('submit')
    .description('propose an action (JetStream publish); prints the run id')
    .argument('[tool]', 'the tool, e.g. fs.read_file')
    .argument('[args...]', 'key=value (a string) or key:=json (parsed JSON)')
    .option('--agent <id>', 'agent id (default $WARDEN_AGENT_ID or "cli")')
    .option('--role <role>', 'agent role (default $WARDEN_AGENT_ROLE or "dev")')
    .option('--session <id>', 'session id')
    .option('--intent <text>', 'what the agent is trying to do')
    .option('--idempotency-key <k>', 'same agent + key => same run (also the Nats-Msg-Id)')
    .option('--run-id <uuid>', 'choose the run id (default: derived from the key, else random)')
    .option('--wait', 'wait until the run is terminal; print status, decision (with its mode) and result')
    .option('--timeout <s>', 'give up waiting after s seconds (default 120)')
    .option('--json', 'with --wait, print the whole run as JSON (on a timeout: run id, last status, error)')
    .addHelpText('after', '\nExample: warden submit fs.write_file path=notes/a.md content=hi --wait')
    .action(act(ctx, (tool: string | undefined, args: string[], o: SubmitOptions) => submit(tool, args, o, ctx.io)));

  const runs = program
    .command('runs')
    .description('list runs, newest first (ORCHESTRATOR_URL)')
    .option('--status <s>', 'only runs in this status')
    .option('--agent <a>', 'only this agent’s runs')
    .option('--session <s>', 'only this session’s runs')
    .option('--limit <n>', 'at most n runs')
    .option('--cursor <c>', 'the next page (printed after a full page)')
    .option('--json', 'the page as JSON')
    .allowExcessArguments()
    .action(act(ctx, (o: RunsOptions, cmd: Command) => listRuns(cmd.args, o, ctx.io)));
  runs
    .command('get')
    .description('one run with its decision, result and events')
    .argument('<run_id>')
    .option('--json', 'the run as JSON')
    .action(act(ctx, (runId: string, o: { json?: boolean }) => getRun(runId, o, ctx.io)));
}

export const runsCommands: CommandModule = { usage, register };
