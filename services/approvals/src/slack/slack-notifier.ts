import { Inject, Injectable } from '@nestjs/common';
import { LogLevel, WebAPIPlatformError, WebClient, type Logger as SlackLogger } from '@slack/web-api';
import type { Envelope } from '@warden/contracts';
import { DomainError, TransientError } from '@warden/kernel';
import { Logger } from '@warden/observability';
import { IdentityDirectory, LOGGER } from '@warden/runtime';
import { approvalMessage, escalationMessage, type ApprovalCard, type SlackMessage } from './domain/approval-blocks';
import { APPROVALS, type ApprovalView, type ApprovalsPort } from './approvals.port';
import { SlackMessagesRepository, type SlackApprovalRow } from './projections/slack-messages.repository';
import { slackMetrics } from './slack.metrics';
import type { SlackSettings } from './slack.config';

export const SLACK_SETTINGS = Symbol('SLACK_SETTINGS');
export const SLACK_CLIENT = Symbol('SLACK_CLIENT');

/** A claim older than this is taken over (its holder died in the middle of a Slack call). */
const STALE_CLAIM_MS = 60_000;
/** Slack errors that a retry may cure; any other platform error is permanent for that message. */
const TRANSIENT_SLACK_ERRORS = new Set([
  'ratelimited',
  'internal_error',
  'fatal_error',
  'service_unavailable',
  'request_timeout',
]);

/** A `@slack/web-api` client that calls `SLACK_API_URL`, retries briefly, and logs through our logger. */
export function createSlackClient(settings: SlackSettings, log: Logger): WebClient {
  const l = log.child('slack-web-api');
  const logger: SlackLogger = {
    debug: () => undefined,
    info: () => undefined,
    warn: (...m: unknown[]) => l.warn(m.map(String).join(' ')),
    error: (...m: unknown[]) => l.error(m.map(String).join(' ')),
    setLevel: () => undefined,
    getLevel: () => LogLevel.WARN,
    setName: () => undefined,
  };
  return new WebClient(settings.botToken, {
    slackApiUrl: settings.apiUrl,
    logger,
    // a handler holds a bus message while it calls Slack: fail over to the bus's own backoff quickly
    retryConfig: { retries: 2, factor: 2, minTimeout: 200, maxTimeout: 2_000, randomize: true },
    timeout: 10_000,
    maxRequestConcurrency: settings.concurrency,
    allowAbsoluteUrls: false,
  });
}

/** The card a Slack message is rendered from, out of `approval_requested`. */
export function cardFromRequest(env: Envelope<'approval_requested'>): ApprovalCard {
  const d = env.data;
  return {
    approval_id: d.approval_id,
    run_id: env.run_id ?? '',
    tier: d.tier,
    required_votes: d.required_votes,
    agent: d.agent,
    ...(d.session_id ? { session_id: d.session_id } : {}),
    action: { tool: d.action.tool, args: d.action.args },
    decision: {
      reasons: d.decision.reasons,
      rule_ids: d.decision.rule_ids,
      mode: d.decision.mode,
      policy_version: d.decision.policy_version,
      ...(d.decision.rewritten_action
        ? { rewritten_action: { tool: d.decision.rewritten_action.tool, args: d.decision.rewritten_action.args } }
        : {}),
    },
    expires_at: d.expires_at,
    trace_id: env.trace_id,
    status: 'pending',
  };
}

/** The rule id the orchestrator denies a run by when a grant does not bind to it. */
const VOID_RULE = 'orchestrator.approval-binding';

/**
 * Posts approvals to Slack and keeps their messages current: a message per approval in the approvals
 * channel, one per escalation in the escalation channel, each updated once the approval closes (who
 * decided, buttons removed) and after every Slack vote that leaves it open (votes so far).
 */
@Injectable()
export class SlackNotifier {
  private readonly log: Logger;

  constructor(
    @Inject(SLACK_SETTINGS) private readonly settings: SlackSettings,
    @Inject(SLACK_CLIENT) private readonly client: WebClient,
    private readonly repo: SlackMessagesRepository,
    private readonly directory: IdentityDirectory,
    @Inject(APPROVALS) private readonly approvals: ApprovalsPort,
    @Inject(LOGGER) log: Logger,
  ) {
    this.log = log.child('slack');
  }

  /** Posts the approval message once (a redelivery finds it posted and does nothing). */
  async onRequested(env: Envelope<'approval_requested'>, now = new Date()): Promise<'posted' | 'skipped'> {
    const card = cardFromRequest(env);
    if (Date.parse(card.expires_at) <= now.getTime()) return 'skipped'; // closed anyway: nothing to ask
    await this.repo.saveCard(card.approval_id, card);
    return this.postOnce(card.approval_id, 'request', this.settings.approvalsChannel, (row) =>
      approvalMessage(this.render(row), { dashboardUrl: this.settings.dashboardUrl }),
    );
  }

  /** Posts an escalation to the escalation channel (once per approval and fraction). */
  async onEscalated(env: Envelope<'approval_escalated'>): Promise<'posted' | 'skipped'> {
    const row = await this.repo.approval(env.data.approval_id);
    if (!row?.card) {
      // the request consumer has not stored it yet (it runs independently): retry later
      throw new TransientError(`approval ${env.data.approval_id} is not known to Slack yet`);
    }
    if (row.closed_status) return 'skipped';
    const kind = `escalation:${env.data.fraction}`;
    return this.postOnce(env.data.approval_id, kind, this.settings.escalationChannel, (r) =>
      escalationMessage(this.render(r), env.data.fraction, {
        mention: this.settings.escalationMention,
        dashboardUrl: this.settings.dashboardUrl,
      }),
    );
  }

  /** Records the closure and updates every message of the approval that does not show it yet. */
  async onClosed(
    env: Envelope<'approval_granted' | 'approval_rejected' | 'approval_expired'>,
    status: 'granted' | 'rejected' | 'expired',
  ): Promise<number> {
    let reason = env.data.reason;
    if (status === 'rejected' && !reason) {
      // a person's rejection carries its reason on their vote, not on the closure
      const view = await this.approvals.get(env.data.approval_id);
      const rejecting = view?.votes.filter((v) => v.vote === 'reject').pop();
      // the engine publishes the closure before the vote's row commits: wait for it, briefly
      if (view && !rejecting && view.status === 'pending')
        throw new TransientError(`rejection of ${env.data.approval_id} seen before its vote`);
      reason = rejecting?.comment;
    }
    await this.repo.close(env.data.approval_id, status, env.data.operators, reason, env.occurred_at);
    return this.applyClosure(env.data.approval_id);
  }

  /**
   * The orchestrator refused a grant (`run_denied` by `orchestrator.approval-binding`): the messages
   * that said "granted" now say it was voided, and why.
   */
  async onVoided(env: Envelope<'run_denied'>): Promise<number> {
    if (!env.run_id || !env.data.rule_ids.includes(VOID_RULE)) return 0;
    const reason = env.data.reasons.join('; ') || 'the orchestrator voided the grant';
    const approvalId = await this.repo.voidGrant(env.run_id, reason, env.occurred_at);
    return approvalId ? this.applyClosure(approvalId) : 0;
  }

  /** After a Slack vote that left the approval open: show the votes so far on its messages. */
  async showProgress(view: ApprovalView): Promise<void> {
    if (view.status !== 'pending') return;
    const row = await this.repo.approval(view.id);
    if (!row?.card) return;
    const card: ApprovalCard = {
      ...this.render(row),
      votes: view.votes.map((v) => ({ ...v, operator: this.who(v.operator) })),
    };
    for (const m of await this.repo.messages(view.id)) {
      if (m.rendered !== 'pending' || !m.ts) continue;
      const msg =
        m.kind === 'request'
          ? approvalMessage(card, { dashboardUrl: this.settings.dashboardUrl })
          : this.escalationFor(m.kind, card);
      await this.call('chat.update', () => this.client.chat.update({ channel: m.channel, ts: m.ts!, ...msg })).catch(
        (err: unknown) => this.log.warn('could not show vote progress', { approval_id: view.id, error: err as Error }),
      );
    }
  }

  private escalationFor(kind: string, card: ApprovalCard): SlackMessage {
    const fraction = Number(kind.split(':')[1] ?? '1');
    return escalationMessage(card, fraction, {
      mention: this.settings.escalationMention,
      dashboardUrl: this.settings.dashboardUrl,
    });
  }

  private async postOnce(
    approvalId: string,
    kind: string,
    channel: string,
    render: (row: SlackApprovalRow) => SlackMessage,
  ): Promise<'posted' | 'skipped'> {
    const claim = await this.repo.claim(approvalId, kind, channel, STALE_CLAIM_MS);
    if (claim === 'posted') {
      slackMetrics.messages.inc({ kind: kindLabel(kind), outcome: 'duplicate' });
      await this.applyClosure(approvalId); // the earlier delivery may have died before this step
      return 'skipped';
    }
    if (claim === 'busy')
      throw new TransientError(`Slack message ${kind} of ${approvalId} is being posted by another delivery`);
    const row = (await this.repo.approval(approvalId))!;
    const msg = render(row);
    let ts: string;
    let postedChannel: string;
    try {
      const res = await this.call('chat.postMessage', () =>
        this.client.chat.postMessage({ channel, text: msg.text, blocks: msg.blocks, unfurl_links: false }),
      );
      ts = String(res.ts);
      postedChannel = String(res.channel ?? channel);
    } catch (err) {
      await this.repo.release(approvalId, kind);
      slackMetrics.messages.inc({ kind: kindLabel(kind), outcome: 'failed' });
      throw err;
    }
    await this.repo.posted(approvalId, kind, postedChannel, ts, row.closed_status ?? 'pending');
    slackMetrics.messages.inc({ kind: kindLabel(kind), outcome: 'posted' });
    this.log.info('posted to Slack', { approval_id: approvalId, kind, channel: postedChannel });
    await this.applyClosure(approvalId);
    return 'posted';
  }

  private async applyClosure(approvalId: string): Promise<number> {
    const claimed = await this.repo.claimUpdates(approvalId);
    if (claimed.length === 0) return 0;
    const row = (await this.repo.approval(approvalId))!;
    if (!row.card) return 0;
    const card = this.render(row);
    let failed: unknown;
    for (const m of claimed) {
      const msg =
        m.kind === 'request'
          ? approvalMessage(card, { dashboardUrl: this.settings.dashboardUrl })
          : this.escalationFor(m.kind, card);
      try {
        await this.call('chat.update', () =>
          this.client.chat.update({ channel: m.channel, ts: m.ts!, text: msg.text, blocks: msg.blocks }),
        );
      } catch (err) {
        await this.repo.unrender(approvalId, m.kind);
        failed ??= err;
      }
    }
    if (failed) throw failed;
    return claimed.length;
  }

  /** The card as it stands: the request plus its closure, operators shown by name or Slack mention. */
  private render(row: SlackApprovalRow): ApprovalCard {
    const card = row.card!;
    if (!row.closed_status) return card;
    return {
      ...card,
      status: row.closed_status,
      decided_by: row.closed_by.map((o) => this.who(o)),
      ...(row.closed_reason ? { reason: row.closed_reason } : {}),
    };
  }

  /** An operator as people know them: a Slack mention when linked, else the operator's name, else the raw id. */
  who(operator: string): string {
    const op = this.directory.operator(operator);
    if (op?.slackUserId) return `<@${op.slackUserId}>`;
    return op?.name ?? operator;
  }

  private async call<T>(method: string, fn: () => Promise<T>): Promise<T> {
    const end = slackMetrics.apiSeconds.startTimer({ method });
    try {
      return await fn();
    } catch (err) {
      throw classifySlackError(method, err);
    } finally {
      end();
    }
  }
}

/** Platform errors other than transient ones are permanent (dead-lettered with the Slack error code); the rest retry. */
export function classifySlackError(method: string, err: unknown): Error {
  if (err instanceof WebAPIPlatformError) {
    const code = err.data.error;
    if (!TRANSIENT_SLACK_ERRORS.has(code))
      return new DomainError(`SLACK.${code.toUpperCase()}`, `Slack ${method} refused: ${code}`);
  }
  return new TransientError(`Slack ${method} failed: ${(err as Error)?.message ?? String(err)}`, err);
}

function kindLabel(kind: string): 'request' | 'escalation' {
  return kind === 'request' ? 'request' : 'escalation';
}
