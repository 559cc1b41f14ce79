/**
 * `warden plans …`: plan approvals on the approvals service (APPROVALS_URL, docs/plans.md): a plan's
 * escalated items are one approval; an approver grants all of them, or a subset, in one vote.
 */
import type { Command } from 'commander';
import { positiveInt } from '../args';
import { EXIT, UsageError } from '../errors';
import { out, table } from '../format';
import { api } from '../http';
import type { Io } from '../io';
import { act, group, type CommandModule, type Context } from '../program';

const usage = `Plans (APPROVALS_URL, default {approvals}; docs/plans.md):
  plans list [--status pending] [--limit n] [--json]
                                             plans, newest first: id, status, items waiting, agent
  plans get <plan_id> [--json]               every item: index, run status, decision, its approval and votes
  plans approve <plan_id> [--items 0,2] [--rest reject|pending] [--comment text] [--json]
                                             one vote on the plan: all waiting items (default) or only --items;
                                             the rest are rejected unless --rest pending
  plans reject <plan_id> --reason text [--json]
                                             reject every waiting item`;

/** One item of a plan as the approvals API shows it (the fields the CLI prints). */
export interface PlanItemView {
  index: number;
  run_id: string;
  action: { tool: string; args: unknown };
  action_hash: string;
  status: string;
  outcome?: string;
  reason?: string;
  approval?: {
    id: string;
    status: 'pending' | 'granted' | 'rejected' | 'expired';
    tier: number;
    required_votes: number;
    votes: { operator: string; vote: string }[];
    expires_at: string;
  };
}

/** A plan as the approvals API shows it. */
export interface PlanView {
  id: string;
  agent: { id: string; role: string };
  session_id?: string;
  count: number;
  intent?: string;
  status: 'pending' | 'decided';
  created_at: string;
  items: PlanItemView[];
}

/** What `POST /v1/plans/:id/votes` answers. */
export interface PlanVoteResult {
  plan: PlanView;
  votes: { index: number; approval_id: string; vote: 'approve' | 'reject'; status: string; error?: string }[];
}

const approvals = api.approvals();
const waiting = (p: PlanView) => p.items.filter((i) => i.approval?.status === 'pending').length;

/** One line per plan: id, status, waiting/items, agent, intent. */
export function formatPlans(items: readonly PlanView[]): string {
  if (items.length === 0) return 'no plans';
  return table(
    items.map((p) => [
      p.id,
      p.status,
      `${waiting(p)} waiting / ${p.count} items`,
      `${p.agent.id} (${p.agent.role})`,
      p.intent ?? '',
    ]),
  );
}

/** A plan with one line per item: what it proposes and where it stands. */
export function formatPlan(p: PlanView): string {
  const lines = [
    `plan ${p.id}  ${p.status}  ${waiting(p)} of ${p.count} items waiting for approval`,
    `agent ${p.agent.id} (${p.agent.role})${p.session_id ? `  session ${p.session_id}` : ''}${p.intent ? `  intent: ${p.intent}` : ''}`,
  ];
  const missing = p.count - p.items.length;
  for (const i of [...p.items].sort((a, b) => a.index - b.index)) {
    const a = i.approval;
    const approval = a
      ? `approval ${a.id} ${a.status} t${a.tier} ${a.votes.filter((v) => v.vote === 'approve').length}/${a.required_votes}`
      : i.outcome
        ? `decision ${i.outcome}`
        : '';
    lines.push(
      `  #${i.index}  ${i.status}  ${i.action.tool} ${JSON.stringify(i.action.args)}  ${approval}${i.reason ? `  (${i.reason})` : ''}`,
    );
  }
  if (missing > 0) lines.push(`  (${missing} item${missing === 1 ? '' : 's'} not received yet)`);
  return lines.join('\n');
}

/** What a plan vote prints: one line per item voted on, refusals with their reason. */
export function formatPlanVote(r: PlanVoteResult): string {
  if (r.votes.length === 0) return `plan ${r.plan.id}: nothing was waiting`;
  return [
    `plan ${r.plan.id}  ${r.plan.status}`,
    ...r.votes.map(
      (v) => `  #${v.index}  ${v.vote}  approval ${v.approval_id}  ${v.status}${v.error ? `: ${v.error}` : ''}`,
    ),
  ].join('\n');
}

/** `--items 0,2,5` as indexes. */
export function parseItems(text: string): number[] {
  const parts = text.split(',').map((s) => s.trim());
  if (parts.some((s) => !/^\d+$/.test(s)))
    throw new UsageError(`--items must be item indexes like 0,2 (got "${text}")`);
  return [...new Set(parts.map(Number))];
}

interface ApproveOptions {
  items?: string;
  rest?: string;
  comment?: string;
  json?: boolean;
}

async function vote(id: string, body: Record<string, unknown>, json: boolean | undefined, io: Io) {
  const r = await approvals.call<PlanVoteResult>(io, 'POST', `/v1/plans/${encodeURIComponent(id)}/votes`, body);
  out(io, r, json, formatPlanVote(r));
  return r.votes.some((v) => v.status === 'refused') ? EXIT.error : EXIT.ok;
}

function register(program: Command, ctx: Context): void {
  const io = ctx.io;
  const p = group(program, 'plans', 'plan approvals (APPROVALS_URL)', (sub) =>
    sub === undefined ? 'plans list|get|approve|reject' : `unknown plans command "${sub}"`,
  );
  p.command('list')
    .description('plans, newest first')
    .option('--status <s>', 'pending: plans with an item waiting for approval')
    .option('--limit <n>', 'at most n')
    .option('--json', 'as JSON')
    .action(
      act(ctx, async (o: { status?: string; limit?: string; json?: boolean }) => {
        if (o.status && o.status !== 'pending') throw new UsageError('--status is pending');
        const q = new URLSearchParams();
        if (o.status) q.set('status', o.status);
        if (o.limit) q.set('limit', String(positiveInt(o.limit, 'limit')));
        const r = await approvals.call<{ items: PlanView[] }>(io, 'GET', `/v1/plans${q.size ? `?${q}` : ''}`);
        out(io, r, o.json, formatPlans(r.items));
        return EXIT.ok;
      }),
    );
  p.command('get')
    .description('one plan with every item')
    .argument('<plan_id>')
    .option('--json', 'as JSON')
    .action(
      act(ctx, async (id: string, o: { json?: boolean }) => {
        const r = await approvals.call<PlanView>(io, 'GET', `/v1/plans/${encodeURIComponent(id)}`);
        out(io, r, o.json, formatPlan(r));
        return EXIT.ok;
      }),
    );
  p.command('approve')
    .description('approve every waiting item, or only --items; exit 1 if an item refused the vote')
    .argument('<plan_id>')
    .option('--items <i,j>', 'the item indexes to approve (default: all waiting items)')
    .option('--rest <r>', 'what happens to the items not approved: reject (default) or pending')
    .option('--comment <text>', 'a note kept with each vote')
    .option('--json', 'the result as JSON')
    .action(
      act(ctx, (id: string, o: ApproveOptions) => {
        if (o.rest && !['reject', 'pending'].includes(o.rest)) throw new UsageError('--rest is reject or pending');
        return vote(
          id,
          {
            approve: o.items ? parseItems(o.items) : 'all',
            ...(o.rest ? { rest: o.rest } : {}),
            ...(o.comment ? { comment: o.comment } : {}),
          },
          o.json,
          io,
        );
      }),
    );
  p.command('reject')
    .description('reject every waiting item of the plan')
    .argument('<plan_id>')
    .option('--reason <text>', 'why (required)')
    .option('--json', 'the result as JSON')
    .action(
      act(ctx, (id: string, o: { reason?: string; json?: boolean }) => {
        if (!o.reason) throw new UsageError('plans reject needs --reason');
        return vote(id, { approve: [], rest: 'reject', comment: o.reason }, o.json, io);
      }),
    );
}

export const plansCommands: CommandModule = { usage, register };
