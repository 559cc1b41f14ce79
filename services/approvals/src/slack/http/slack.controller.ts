import { Controller, HttpCode, Inject, Optional, Post, Req, Res, type OnApplicationShutdown } from '@nestjs/common';
import type { Request, Response } from 'express';
import { DomainError, isUuid } from '@warden/kernel';
import { Logger } from '@warden/observability';
import { CONFIG, IdentityDirectory, LOGGER, writeProblem, type RawBodyRequest } from '@warden/runtime';
import type { Principal } from '@warden/identity';
import { APPROVE_ACTION, REJECT_ACTION, ephemeral } from '../domain/approval-blocks';
import { APPROVALS, type ApprovalView, type ApprovalsPort } from '../approvals.port';
import { PlanService } from '../../plan/plan.service';
import { PLAN_APPROVE_ALL_ACTION, PLAN_REJECT_ALL_ACTION, planMessage } from '../domain/plan-blocks';
import { SlackPlanNotifier } from '../slack-plans';
import { SlackNotifier } from '../slack-notifier';
import { verifySlackSignature } from './slack-signature';
import { slackMetrics } from '../slack.metrics';
import type { SlackEnv } from '../slack.config';

/** Slack wants an answer within 3 s; past this, the reply follows on `response_url`. */
const ANSWER_WITHIN_MS = 2_500;

const USAGE = [
  '`/warden pending` — approvals waiting for a decision',
  '`/warden approve <approval id> [comment]` — approve (the id or its first 8 characters)',
  '`/warden reject <approval id> <reason>` — reject, with a reason',
  '`/warden plan <plan id>` — a plan, with Approve all / Reject all',
].join('\n');

interface BlockActionsPayload {
  type: string;
  user?: { id?: string };
  actions?: { action_id?: string; value?: string }[];
  response_url?: string;
}

type Reply = ReturnType<typeof ephemeral>;

/**
 * `POST /slack/interactions` (button clicks) and `POST /slack/commands` (`/warden …`). Every request
 * must carry Slack's v0 signature over the raw body within 5 minutes either way, or gets 401. The
 * voter is the operator linked to the Slack user (`slack_user_id`); the approvals engine enforces
 * role, tier, one vote per operator and "already decided".
 */
@Controller('slack')
export class SlackController implements OnApplicationShutdown {
  private readonly log: Logger;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    @Inject(CONFIG) private readonly config: SlackEnv,
    private readonly directory: IdentityDirectory,
    @Inject(APPROVALS) private readonly approvals: ApprovalsPort,
    @Inject(LOGGER) log: Logger,
    @Optional() private readonly notifier?: SlackNotifier,
    @Optional() private readonly plans?: PlanService,
    @Optional() private readonly planSlack?: SlackPlanNotifier,
  ) {
    this.log = log.child('slack');
  }

  @Post('interactions')
  @HttpCode(200)
  async interactions(@Req() req: Request, @Res() res: Response): Promise<void> {
    const body = await this.verified(req, res, 'interactions');
    if (!body) return;
    const payload = interactionPayload(body);
    if (typeof payload === 'string') {
      slackMetrics.requests.inc({ route: 'interactions', outcome: 'bad_body' });
      problem(res, 400, 'Bad Request', payload);
      return;
    }
    if (!this.responseUrlAllowed(payload.response_url, res, 'interactions')) return;
    // ack at once: the vote and the message update follow (Slack shows an error after 3 s)
    res.status(200).end();
    slackMetrics.requests.inc({ route: 'interactions', outcome: 'accepted' });
    if (payload.type !== 'block_actions') return;
    const action = payload.actions?.[0];
    if (
      (action?.action_id === PLAN_APPROVE_ALL_ACTION || action?.action_id === PLAN_REJECT_ALL_ACTION) &&
      action.value
    ) {
      const planId = action.value;
      const approve = action.action_id === PLAN_APPROVE_ALL_ACTION;
      this.track(
        (async () => {
          const reply = await this.castPlanVote(payload.user?.id, planId, approve);
          if (payload.response_url) await this.respond(payload.response_url, { ...reply, replace_original: false });
        })(),
      );
      return;
    }
    if (!action || (action.action_id !== APPROVE_ACTION && action.action_id !== REJECT_ACTION) || !action.value) return;
    const value = action.value;
    const vote = action.action_id === APPROVE_ACTION ? 'approve' : 'reject';
    this.track(
      (async () => {
        const reply = await this.castVote(payload.user?.id, value, vote, undefined);
        if (payload.response_url) await this.respond(payload.response_url, { ...reply, replace_original: false });
      })(),
    );
  }

  @Post('commands')
  @HttpCode(200)
  async commands(@Req() req: Request, @Res() res: Response): Promise<void> {
    const body = await this.verified(req, res, 'commands');
    if (!body) return;
    const form = new URLSearchParams(body.toString('utf8'));
    const [sub = '', id, ...rest] = (form.get('text') ?? '').trim().split(/\s+/);
    const userId = form.get('user_id') ?? undefined;
    const responseUrl = form.get('response_url') ?? undefined;
    if (!this.responseUrlAllowed(responseUrl, res, 'commands')) return;
    slackMetrics.requests.inc({ route: 'commands', outcome: 'accepted' });
    let work: Promise<Reply>;
    switch (sub.toLowerCase()) {
      case 'pending':
        work = this.pending(userId);
        break;
      case 'plan':
        work = this.showPlan(id);
        break;
      case 'approve':
      case 'reject': {
        const comment = rest.join(' ').trim() || undefined;
        if (!id) work = Promise.resolve(ephemeral(`Usage:\n${USAGE}`));
        else if (sub.toLowerCase() === 'reject' && !comment)
          work = Promise.resolve(ephemeral('A rejection needs a reason: `/warden reject <approval id> <reason>`'));
        else work = this.castVote(userId, id, sub.toLowerCase() as 'approve' | 'reject', comment);
        break;
      }
      default:
        work = Promise.resolve(ephemeral(`Warden approvals:\n${USAGE}`));
    }
    const timer = new Promise<undefined>((r) => setTimeout(() => r(undefined), ANSWER_WITHIN_MS).unref());
    const first = await Promise.race([work, timer]);
    if (first) {
      res.status(200).json(first);
      return;
    }
    res.status(200).json(ephemeral('Working on it…'));
    this.track(
      work.then(async (reply) => {
        if (responseUrl) await this.respond(responseUrl, reply);
      }),
    );
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }

  /** The raw body if the request is signed by Slack; otherwise answers 401/503 and returns undefined. */
  private async verified(req: Request, res: Response, route: string): Promise<Buffer | undefined> {
    const secret = this.config.SLACK_SIGNING_SECRET;
    if (!secret) {
      slackMetrics.requests.inc({ route, outcome: 'disabled' });
      problem(res, 503, 'Service Unavailable', 'Slack is not configured here (SLACK_SIGNING_SECRET is unset)');
      return undefined;
    }
    // the bytes exactly as sent, read by the input gate (raw-body): size-limited (1 MiB, else 413),
    // content-encoding undone, UTF-8 without NUL for Slack's form bodies (else 400)
    const body = (req as Request & RawBodyRequest).rawBody ?? Buffer.alloc(0);
    const check = verifySlackSignature(
      secret,
      header(req, 'x-slack-request-timestamp'),
      header(req, 'x-slack-signature'),
      body,
    );
    if (!check.ok) {
      slackMetrics.requests.inc({ route, outcome: 'bad_signature' });
      this.log.warn('refused unsigned Slack request', { route, reason: check.reason });
      problem(res, 401, 'Unauthorized', `Slack signature refused: ${check.reason}`);
      return undefined;
    }
    return body;
  }

  /** A request naming a `response_url` outside Slack is refused (400) before anything is done. */
  private responseUrlAllowed(url: string | undefined, res: Response, route: string): boolean {
    if (url === undefined || isSlackResponseUrl(url, this.config.SLACK_API_URL)) return true;
    slackMetrics.requests.inc({ route, outcome: 'bad_body' });
    this.log.warn('refused a Slack request whose response_url is outside Slack', { route, host: hostOf(url) });
    problem(res, 400, 'Bad Request', `response_url must be an https://${SLACK_RESPONSE_HOST}/ URL`);
    return false;
  }

  private operator(userId: string | undefined): Principal | undefined {
    return userId ? this.directory.operatorBySlackUser(userId) : undefined;
  }

  private unlinked(userId: string | undefined): Reply {
    if (userId && this.directory.operatorsBySlackUser(userId).length > 1)
      return ephemeral(
        `Your Slack account (<@${userId}>) is linked to more than one Warden operator, so Warden cannot tell who is voting. ` +
          'Ask a Warden admin to revoke all but one of them (`POST /v1/operators/:id/revoke`).',
      );
    return ephemeral(
      `Your Slack account${userId ? ` (<@${userId}>)` : ''} is not linked to a Warden operator, so you cannot vote here. ` +
        'Ask a Warden admin to create an operator for you with your `slack_user_id` (`POST /v1/operators`).',
    );
  }

  private async pending(userId: string | undefined): Promise<Reply> {
    if (!this.operator(userId)) return this.unlinked(userId);
    const { items } = await this.approvals.list({ status: 'pending', limit: 20 });
    if (items.length === 0) return ephemeral('Nothing is waiting for approval.');
    const lines = items.map(
      (a) =>
        `• \`${a.id.slice(0, 8)}\` tier ${a.tier} \`${a.action.tool}\` by \`${a.agent.id}\` · ${a.votes.filter((v) => v.vote === 'approve').length}/${a.required_votes} · expires <!date^${Math.floor(Date.parse(a.expires_at) / 1000)}^{date_short_pretty} {time}|${a.expires_at}>`,
    );
    return ephemeral(`${items.length} pending approval${items.length === 1 ? '' : 's'}:\n${lines.join('\n')}`);
  }

  /** `/warden plan <id>`: the plan's message, with its buttons, as an ephemeral reply. */
  private async showPlan(planId: string | undefined): Promise<Reply> {
    if (!planId || !isUuid(planId) || !this.plans) return ephemeral('Usage: `/warden plan <plan id>`');
    const plan = await this.plans.get(planId);
    if (!plan) return ephemeral(`No plan \`${planId}\`.`);
    const msg = planMessage(plan);
    return ephemeral(msg.text, msg.blocks);
  }

  /**
   * "Approve all" / "Reject all" on a plan, as the operator linked to the Slack user: one vote per
   * waiting item (PlanService), each checked as its own vote would be.
   */
  private async castPlanVote(userId: string | undefined, planId: string, approve: boolean): Promise<Reply> {
    const principal = this.operator(userId);
    if (!principal) {
      slackMetrics.requests.inc({ route: 'vote', outcome: 'unlinked' });
      return this.unlinked(userId);
    }
    if (!this.plans || !isUuid(planId)) return ephemeral('No such plan.');
    try {
      const r = approve
        ? await this.plans.vote(planId, principal, { approve: 'all', rest: 'reject' }, 'slack')
        : await this.plans.vote(planId, principal, { approve: [], rest: 'reject' }, 'slack');
      slackMetrics.requests.inc({ route: 'vote', outcome: 'recorded' });
      await this.planSlack?.update(planId);
      const cast = r.votes.filter((v) => !v.error).length;
      const refused = r.votes.filter((v) => v.error);
      return ephemeral(
        `Your ${approve ? 'approval' : 'rejection'} of the plan is recorded on ${cast} item${cast === 1 ? '' : 's'}.` +
          (refused.length
            ? ` Not recorded: ${refused.map((v) => `item ${v.index + 1} (${v.error})`).join('; ')}.`
            : ''),
      );
    } catch (err) {
      slackMetrics.requests.inc({ route: 'vote', outcome: 'refused' });
      return ephemeral(explain(err, approve ? 'approve' : 'reject'));
    }
  }

  /** Votes as the operator linked to the Slack user; answers with what happened, in words. */
  private async castVote(
    userId: string | undefined,
    idOrPrefix: string,
    vote: 'approve' | 'reject',
    comment: string | undefined,
  ): Promise<Reply> {
    const principal = this.operator(userId);
    if (!principal) {
      slackMetrics.requests.inc({ route: 'vote', outcome: 'unlinked' });
      return this.unlinked(userId);
    }
    try {
      const approvalId = await this.resolveId(idOrPrefix);
      if (!approvalId) return ephemeral(`No pending approval matches \`${idOrPrefix.slice(0, 64)}\`.`);
      const view = await this.approvals.vote({ approvalId, principal, vote, comment, channel: 'slack' });
      slackMetrics.requests.inc({ route: 'vote', outcome: 'recorded' });
      if (view.status === 'pending') {
        await this.notifier?.showProgress(view);
        const n = view.votes.filter((v) => v.vote === 'approve').length;
        return ephemeral(
          `Your ${vote} vote on \`${view.action.tool}\` is recorded (${n} of ${view.required_votes} approvals).`,
        );
      }
      return ephemeral(`Recorded: approval of \`${view.action.tool}\` is now *${view.status}*.`);
    } catch (err) {
      slackMetrics.requests.inc({ route: 'vote', outcome: 'refused' });
      return ephemeral(explain(err, vote));
    }
  }

  /** A full approval id, or a unique prefix (≥ 8 chars) of a pending one. */
  private async resolveId(idOrPrefix: string): Promise<string | undefined> {
    const s = idOrPrefix.toLowerCase();
    if (isUuid(s)) return s;
    if (!/^[0-9a-f-]{8,36}$/.test(s)) return undefined;
    const matches: ApprovalView[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 10; page++) {
      const r = await this.approvals.list({ status: 'pending', limit: 200, cursor });
      matches.push(...r.items.filter((a) => a.id.startsWith(s)));
      if (!r.next_cursor || matches.length > 1) break;
      cursor = r.next_cursor;
    }
    return matches.length === 1 ? matches[0]!.id : undefined;
  }

  private async respond(url: string, body: object): Promise<void> {
    if (!isSlackResponseUrl(url, this.config.SLACK_API_URL)) {
      // a signed payload may still name any URL: never let it make this service call elsewhere
      slackMetrics.requests.inc({ route: 'response_url', outcome: 'refused' });
      this.log.warn('refused a response_url outside Slack', { host: hostOf(url) });
      return;
    }
    try {
      const r = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        redirect: 'error',
        signal: AbortSignal.timeout(10_000),
      });
      if (!r.ok) this.log.warn('Slack response_url refused the reply', { status: r.status });
    } catch (err) {
      this.log.warn('could not reply on response_url', { error: err as Error });
    }
  }

  private track(p: Promise<void>): void {
    const tracked = p.catch((err: unknown) => this.log.error('Slack interaction failed', { error: err as Error }));
    this.inFlight.add(tracked);
    void tracked.finally(() => this.inFlight.delete(tracked));
  }
}

/** A refused vote, in words for the person who cast it. */
export function explain(err: unknown, vote: 'approve' | 'reject'): string {
  if (!(err instanceof DomainError))
    return `Your ${vote} vote could not be recorded (${(err as Error)?.message ?? 'error'}); try again.`;
  switch (err.code) {
    case 'APPROVAL.NOT_FOUND':
      return 'No such approval.';
    case 'APPROVAL.ALREADY_DECIDED':
      return `Too late: ${err.message}.`;
    case 'APPROVAL.ALREADY_VOTED':
      return 'You have already voted on this approval; a vote counts once.';
    case 'AUTH.FORBIDDEN':
      return `You may not vote on this approval: ${err.message}.`;
    default:
      return `Your ${vote} vote was refused: ${err.message}`;
  }
}

/** Slack's own host for `response_url`s (https only). */
export const SLACK_RESPONSE_HOST = 'hooks.slack.com';

/**
 * True for a `response_url` this service may post to: `https://hooks.slack.com/…`, or the origin of
 * the configured Slack Web API (`SLACK_API_URL`, which tests and the benchmark point at a local fake).
 * @example isSlackResponseUrl('https://hooks.slack.com/actions/T1/1/abc', 'https://slack.com/api/') // true
 */
export function isSlackResponseUrl(url: string, apiUrl: string): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  if (u.username || u.password) return false;
  if (u.protocol === 'https:' && u.hostname === SLACK_RESPONSE_HOST && (u.port === '' || u.port === '443')) return true;
  try {
    return u.origin === new URL(apiUrl).origin;
  } catch {
    return false;
  }
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '(not a URL)';
  }
}

/** The `payload` form field of an interaction, checked for shape; a string says what is wrong. */
function interactionPayload(body: Buffer): BlockActionsPayload | string {
  const raw = new URLSearchParams(body.toString('utf8')).get('payload');
  if (raw === null) return 'form field "payload" is required';
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return 'form field "payload" must be JSON';
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'form field "payload" must be a JSON object';
  const p = v as Record<string, unknown>;
  const str = (x: unknown) => (typeof x === 'string' ? x : undefined);
  const user = typeof p.user === 'object' && p.user !== null ? (p.user as Record<string, unknown>) : undefined;
  const actions = Array.isArray(p.actions) ? p.actions : [];
  const first = typeof actions[0] === 'object' && actions[0] !== null ? (actions[0] as Record<string, unknown>) : {};
  return {
    type: str(p.type) ?? '',
    user: { id: str(user?.id) },
    actions: [{ action_id: str(first.action_id), value: str(first.value) }],
    response_url: str(p.response_url),
  };
}

function header(req: Request, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function problem(res: Response, status: number, title: string, detail: string): void {
  writeProblem(res, { type: 'about:blank', title, status, detail });
}
