/**
 * `warden` commands for the approvals service (APPROVALS_URL): the inbox, voting, operators,
 * standing approvals and reviews. Votes are sent with `X-Warden-Channel: cli`.
 */
import type { Command } from 'commander';
import { one, positiveInt } from '../args';
import { EXIT, UsageError } from '../errors';
import { out, table } from '../format';
import { api } from '../http';
import type { Io } from '../io';
import { act, group, type CommandModule, type Context } from '../program';

const usage = `Approvals (APPROVALS_URL, default {approvals}):
  approvals list [--status pending|granted|rejected|expired] [--limit n] [--cursor c] [--json]
  approvals get <approval_id> [--json]
  approve <approval_id> [--comment text] [--standing session|agent --ttl seconds] [--json]
                                             says "voided" (and why) when the policy re-check refuses the grant
  reject <approval_id> --reason text [--json]
  operators create --name n --roles viewer,approver,admin --max-tier 1..3 [--slack-user U123]
                                             prints the new operator's token once
  operators list [--json]
  operators revoke <operator_id> [--reason text]
  standing list [--all] [--json]             standing approvals ("approve and allow this pattern")
  standing revoke <standing_id> [--reason text]
  reviews list [--status pending|fine|flagged] [--json]
  review fine|flag <review_id> [--comment text]   flag proposes the compensating action as a new run`;

/** An approval as the approvals API shows it (the fields the CLI prints). */
export interface ApprovalView {
  id: string;
  run_id: string;
  status: string;
  tier: number;
  required_votes: number;
  votes: { operator: string; vote: 'approve' | 'reject'; channel: string; at: string; comment?: string }[];
  action: { tool: string; args: unknown };
  agent: { id: string; role: string };
  session_id?: string;
  reasons: string[];
  expires_at: string;
  closed_reason?: string;
  /** granted by the votes, then refused by the policy re-check or the orchestrator (shown as rejected) */
  voided?: true;
}
interface Page<T> {
  items: T[];
  next_cursor?: string;
}
interface OperatorView {
  id: string;
  name: string;
  roles: string[];
  max_tier: number;
  revoked_at?: string;
}
interface StandingView {
  standing_id: string;
  scope: string;
  agent_id: string;
  session_id?: string;
  tool: string;
  max_tier: number;
  expires_at: string;
  revoked_at?: string;
}
interface ReviewView {
  id: string;
  status: string;
  run_id: string;
  action: { tool: string };
  compensation_action?: { tool: string };
  resolution?: { compensation_run_id?: string };
}

const approvals = api.approvals();

function age(iso: string, now = Date.now()): string {
  const s = Math.round((now - Date.parse(iso)) / 1000);
  if (Math.abs(s) < 120) return `${s}s`;
  if (Math.abs(s) < 7200) return `${Math.round(s / 60)}m`;
  return `${Math.round(s / 3600)}h`;
}

const approveVotes = (a: ApprovalView) => a.votes.filter((v) => v.vote === 'approve').length;

/** One line per approval: id, status, tier, votes/required, tool, agent, expiry. */
export function formatApprovals(items: readonly ApprovalView[], now = Date.now()): string {
  if (items.length === 0) return 'no approvals';
  return table(
    items.map((a) => [
      a.id,
      a.status,
      `t${a.tier}`,
      `${approveVotes(a)}/${a.required_votes}`,
      a.action.tool,
      a.agent.id,
      a.status === 'pending' ? `expires in ${age(new Date(now).toISOString(), Date.parse(a.expires_at))}` : a.status,
    ]),
  );
}

export function formatApproval(a: ApprovalView): string {
  const lines = [
    `approval ${a.id}  ${a.status}  tier ${a.tier}  votes ${a.votes.length}/${a.required_votes}`,
    `run ${a.run_id}  agent ${a.agent.id} (${a.agent.role})${a.session_id ? `  session ${a.session_id}` : ''}`,
    `action ${a.action.tool} ${JSON.stringify(a.action.args)}`,
    `reasons: ${a.reasons.join('; ')}`,
    `expires ${a.expires_at}`,
  ];
  for (const v of a.votes)
    lines.push(`  ${v.vote} by ${v.operator} via ${v.channel} at ${v.at}${v.comment ? `: ${v.comment}` : ''}`);
  if (a.closed_reason) lines.push(`${a.voided ? 'voided' : 'closed'}: ${a.closed_reason}`);
  return lines.join('\n');
}

/**
 * What `approve` prints: `<id> pending (1/2 votes)`, `<id> granted (2/2 votes)`, or, when the votes
 * were enough but the grant was refused (the policy re-check no longer allows the action, or the
 * orchestrator voided it), `<id> voided: <why> (2/2 approve votes; the run will not go ahead)`.
 */
export function formatVote(a: ApprovalView): string {
  const voided = a.voided === true || (a.status === 'rejected' && !a.votes.some((v) => v.vote === 'reject'));
  if (voided)
    return `${a.id} voided: ${a.closed_reason ?? 'the grant was refused'} (${approveVotes(a)}/${a.required_votes} approve votes; the run will not go ahead)`;
  return `${a.id} ${a.status} (${a.votes.length}/${a.required_votes} votes)`;
}

async function list(o: { status?: string; limit?: string; cursor?: string; json?: boolean }, io: Io) {
  const q = new URLSearchParams();
  if (o.status) q.set('status', o.status);
  if (o.limit) q.set('limit', String(positiveInt(o.limit, 'limit')));
  if (o.cursor) q.set('cursor', o.cursor);
  const page = await approvals.call<Page<ApprovalView>>(io, 'GET', `/v1/approvals${q.size ? `?${q}` : ''}`);
  out(io, page, o.json, formatApprovals(page.items) + (page.next_cursor ? `\nnext: --cursor ${page.next_cursor}` : ''));
  return EXIT.ok;
}

interface ApproveOptions {
  comment?: string;
  standing?: string;
  ttl?: string;
  json?: boolean;
}

async function approve(id: string, o: ApproveOptions, io: Io) {
  if (o.standing && !['session', 'agent'].includes(o.standing)) throw new UsageError('--standing is session or agent');
  if (Boolean(o.standing) !== Boolean(o.ttl)) throw new UsageError('--standing and --ttl go together');
  const body = {
    ...(o.comment ? { comment: o.comment } : {}),
    ...(o.standing && o.ttl ? { standing: { scope: o.standing, ttl_seconds: positiveInt(o.ttl, 'ttl') } } : {}),
  };
  const a = await approvals.call<ApprovalView>(io, 'POST', `/v1/approvals/${encodeURIComponent(id)}/approve`, body);
  out(io, a, o.json, formatVote(a));
  return EXIT.ok;
}

async function reject(id: string, o: { reason?: string; json?: boolean }, io: Io) {
  if (!o.reason) throw new UsageError('reject needs --reason');
  const a = await approvals.call<ApprovalView>(io, 'POST', `/v1/approvals/${encodeURIComponent(id)}/reject`, {
    comment: o.reason,
  });
  out(io, a, o.json, `${a.id} ${a.status}`);
  return EXIT.ok;
}

interface CreateOperatorOptions {
  name?: string;
  roles?: string;
  maxTier?: string;
  slackUser?: string;
}

async function createOperator(o: CreateOperatorOptions, io: Io) {
  if (!o.name || !o.roles || !o.maxTier) throw new UsageError('operators create needs --name, --roles and --max-tier');
  const r = await approvals.call<{ id: string; token: string }>(io, 'POST', '/v1/operators', {
    name: o.name,
    roles: o.roles.split(',').map((s) => s.trim()),
    max_tier: positiveInt(o.maxTier, 'max-tier'),
    ...(o.slackUser ? { slack_user_id: o.slackUser } : {}),
  });
  io.stdout.write(`operator ${r.id}\ntoken ${r.token}\n(the token is shown only now; store it safely)\n`);
  return EXIT.ok;
}

async function revoke(path: string, reason: string | undefined, io: Io) {
  await approvals.call(io, 'POST', path, { ...(reason ? { reason } : {}) });
  io.stdout.write('revoked\n');
  return EXIT.ok;
}

function register(program: Command, ctx: Context): void {
  const io = ctx.io;
  const a = group(program, 'approvals', 'the approval inbox (APPROVALS_URL)', (sub) =>
    sub === undefined ? 'approvals list|get' : `unknown approvals command "${sub}"`,
  );
  a.command('list')
    .description('approvals, newest first')
    .option('--status <s>', 'pending, granted, rejected or expired')
    .option('--limit <n>', 'at most n')
    .option('--cursor <c>', 'the next page')
    .option('--json', 'the page as JSON')
    .action(act(ctx, (o: { status?: string; limit?: string; cursor?: string; json?: boolean }) => list(o, io)));
  a.command('get')
    .description('one approval with its votes')
    .argument('<approval_id>')
    .option('--json', 'as JSON')
    .action(
      act(ctx, async (id: string, o: { json?: boolean }) => {
        const r = await approvals.call<ApprovalView>(io, 'GET', `/v1/approvals/${encodeURIComponent(id)}`);
        out(io, r, o.json, formatApproval(r));
        return EXIT.ok;
      }),
    );

  program
    .command('approve')
    .description('vote to approve (says "voided", and why, when the policy re-check refuses the grant)')
    .argument('<approval_id>')
    .option('--comment <text>', 'a note kept with the vote')
    .option('--standing <scope>', 'also allow this pattern for the session or the agent (with --ttl)')
    .option('--ttl <seconds>', 'how long the standing approval lasts')
    .option('--json', 'the approval as JSON')
    .action(act(ctx, (id: string, o: ApproveOptions) => approve(id, o, io)));
  program
    .command('reject')
    .description('vote to reject; one rejection closes the approval')
    .argument('<approval_id>')
    .option('--reason <text>', 'why (required)')
    .option('--json', 'the approval as JSON')
    .action(act(ctx, (id: string, o: { reason?: string; json?: boolean }) => reject(id, o, io)));

  const ops = group(program, 'operators', 'operators and their tokens (admin)', () => 'operators create|list|revoke');
  ops
    .command('create')
    .description('a new operator; prints its token once')
    .option('--name <n>', 'name (shown on votes)')
    .option('--roles <r1,r2>', 'viewer, approver, admin')
    .option('--max-tier <1..3>', 'the highest tier this operator may approve')
    .option('--slack-user <id>', 'Slack user id, e.g. U123')
    .action(act(ctx, (o: CreateOperatorOptions) => createOperator(o, io)));
  ops
    .command('list')
    .description('every operator')
    .option('--json', 'as JSON')
    .action(
      act(ctx, async (o: { json?: boolean }) => {
        const r = await approvals.call<Page<OperatorView>>(io, 'GET', '/v1/operators');
        const text = r.items
          .map(
            (x) => `${x.id}  ${x.name}  ${x.roles.join(',')}  max_tier ${x.max_tier}${x.revoked_at ? '  REVOKED' : ''}`,
          )
          .join('\n');
        out(io, r, o.json, text || 'no operators');
        return EXIT.ok;
      }),
    );
  ops
    .command('revoke')
    .description("revoke an operator's token")
    .argument('[operator_id]')
    .option('--reason <text>', 'why')
    .allowExcessArguments()
    .action(
      act(ctx, (_id: string | undefined, o: { reason?: string }, cmd: Command) =>
        revoke(`/v1/operators/${encodeURIComponent(one(cmd.args, 'operator id'))}/revoke`, o.reason, io),
      ),
    );

  const st = group(
    program,
    'standing',
    'standing approvals ("approve and allow this pattern")',
    () => 'standing list|revoke',
  );
  st.command('list')
    .description('active standing approvals')
    .option('--all', 'also expired and revoked ones')
    .option('--json', 'as JSON')
    .action(
      act(ctx, async (o: { all?: boolean; json?: boolean }) => {
        const r = await approvals.call<Page<StandingView>>(
          io,
          'GET',
          `/v1/standing-approvals${o.all ? '?all=true' : ''}`,
        );
        const text = r.items
          .map(
            (s) =>
              `${s.standing_id}  ${s.scope}  agent ${s.agent_id}${s.session_id ? ` session ${s.session_id}` : ''}  ${s.tool}  ≤t${s.max_tier}  until ${s.expires_at}${s.revoked_at ? '  REVOKED' : ''}`,
          )
          .join('\n');
        out(io, r, o.json, text || 'no standing approvals');
        return EXIT.ok;
      }),
    );
  st.command('revoke')
    .description('revoke a standing approval')
    .argument('[standing_id]')
    .option('--reason <text>', 'why')
    .allowExcessArguments()
    .action(
      act(ctx, (_id: string | undefined, o: { reason?: string }, cmd: Command) =>
        revoke(
          `/v1/standing-approvals/${encodeURIComponent(one(cmd.args, 'standing approval id'))}/revoke`,
          o.reason,
          io,
        ),
      ),
    );

  const rv = group(program, 'reviews', 'after-the-fact reviews of runs', () => 'reviews list');
  rv.command('list')
    .description('review items')
    .option('--status <s>', 'pending, fine or flagged')
    .option('--json', 'as JSON')
    .action(
      act(ctx, async (o: { status?: string; json?: boolean }) => {
        const r = await approvals.call<Page<ReviewView>>(
          io,
          'GET',
          `/v1/reviews${o.status ? `?status=${encodeURIComponent(o.status)}` : ''}`,
        );
        const text = r.items
          .map(
            (x) =>
              `${x.id}  ${x.status}  run ${x.run_id}  ${x.action.tool}${x.compensation_action ? `  (flag → ${x.compensation_action.tool})` : ''}`,
          )
          .join('\n');
        out(io, r, o.json, text || 'no review items');
        return EXIT.ok;
      }),
    );

  const review = group(program, 'review', 'settle a review item', () => 'review fine|flag <review_id>');
  for (const verdict of ['fine', 'flag'] as const) {
    review
      .command(verdict)
      .description(verdict === 'fine' ? 'the run was fine' : 'flag it: proposes the compensating action as a new run')
      .argument('[review_id]')
      .option('--comment <text>', 'a note')
      .option('--json', 'as JSON')
      .allowExcessArguments()
      .action(
        act(ctx, async (_id: string | undefined, o: { comment?: string; json?: boolean }, cmd: Command) => {
          const id = encodeURIComponent(one(cmd.args, 'review id'));
          const r = await approvals.call<ReviewView>(io, 'POST', `/v1/reviews/${id}/${verdict}`, {
            ...(o.comment ? { comment: o.comment } : {}),
          });
          const comp = r.resolution?.compensation_run_id;
          out(io, r, o.json, `${r.id} ${r.status}${comp ? `; compensating run ${comp}` : ''}`);
          return EXIT.ok;
        }),
      );
  }
}

export const approvalsCommands: CommandModule = {
  usage,
  register,
  defaults: { approvals: 'list', reviews: 'list' },
};
