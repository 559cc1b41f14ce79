import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import type { WebClient } from '@slack/web-api';
import type { Envelope, Subjects } from '@warden/contracts';
import { decodeEnvelope, eventAuthenticity, type BusConnection } from '@warden/bus';
import { TransientError } from '@warden/kernel';
import { Logger } from '@warden/observability';
import { BUS, DATA_SOURCE, LOGGER, SUBJECTS } from '@warden/runtime';
import { PlanService } from '../plan/plan.service';
import { isPlanItem } from '../plan/projections/plan-items.projection';
import { planMessage } from './domain/plan-blocks';
import { SLACK_CLIENT, SLACK_SETTINGS } from './slack-notifier';
import { SlackMessagesRepository } from './projections/slack-messages.repository';
import type { SlackSettings } from './slack.config';

/**
 * True when `data` is a genuine `task_received` of `runId` that names no plan: the run is judged alone,
 * whatever plan membership has read. Anything else — a forgery (a bad or missing signature), another
 * run's receipt, an unreadable body — is false, and the caller waits until plan membership has read
 * past it (one that names a plan is verified there and dead-lettered if forged; one that names none is
 * passed over, its position stored within a second).
 */
export function receivedAlone(data: Uint8Array, runId: string): boolean {
  // with no check installed, nothing read off the bus is taken at its word
  if (!eventAuthenticity()) return false;
  try {
    const env = decodeEnvelope(JSON.parse(Buffer.from(data).toString('utf8')));
    return env.type === 'task_received' && env.run_id === runId && !isPlanItem(env);
  } catch {
    return false;
  }
}

/** A post claim older than this was left by a delivery that died mid-call. */
const STALE_CLAIM_MS = 30_000;
const KIND = 'plan';

/**
 * One Slack message per plan: the first escalated item of a plan posts it, every later request, vote
 * and closure updates it. (Slack message rows are keyed by the plan id, kind `plan`.) An approval that
 * belongs to no plan is left to {@link SlackNotifier}.
 */
@Injectable()
export class SlackPlanNotifier {
  private readonly log: Logger;

  constructor(
    @Inject(SLACK_SETTINGS) private readonly settings: SlackSettings,
    @Inject(SLACK_CLIENT) private readonly client: WebClient,
    private readonly repo: SlackMessagesRepository,
    private readonly plans: PlanService,
    @Inject(DATA_SOURCE) private readonly ds: DataSource,
    @Inject(BUS) private readonly bus: BusConnection,
    @Inject(SUBJECTS) private readonly subjects: Subjects,
    @Inject(LOGGER) log: Logger,
  ) {
    this.log = log.child('slack');
  }

  /**
   * The plan a run is an item of. A run whose `task_received` (verified) names no plan is alone at once;
   * otherwise the answer waits until plan membership has read that `task_received` (before that: a
   * TransientError, so the message is retried rather than posted as a lone approval).
   */
  async planOf(runId: string): Promise<string | undefined> {
    const planId = await this.plans.planOfRun(runId);
    if (planId) return planId;
    const m = await this.bus.jsm.streams
      .getMessage(this.subjects.streams.events, { last_by_subj: this.subjects.event(runId, 'task_received') })
      .catch(() => null);
    if (!m) return undefined;
    // plan membership leaves plan-less receipts out (its checkpoint would pass them only now and then)
    if (receivedAlone(m.data, runId)) return undefined;
    const rows: { position: string }[] = await this.ds.query(
      `SELECT position FROM approvals.projection_checkpoints WHERE name = 'plan-items'`,
    );
    if (Number(rows[0]?.position ?? 0) < m.seq)
      throw new TransientError(`plan membership has not read run ${runId}'s task_received yet`);
    return this.plans.planOfRun(runId);
  }

  /** A requested approval: true when its run is a plan item (the plan's message is posted or updated). */
  async onRequested(env: Envelope<'approval_requested'>): Promise<boolean> {
    const planId = await this.planOf(env.run_id!);
    if (!planId) return false;
    // the message shows this item's approval: wait until the inbox has it (its own consumer)
    const known = await this.plans.get(planId);
    if (!known?.items.some((i) => i.approval?.id === env.data.approval_id))
      throw new TransientError(`approval ${env.data.approval_id} of plan ${planId} is not in the inbox yet`);
    const claim = await this.repo.claim(planId, KIND, this.settings.approvalsChannel, STALE_CLAIM_MS);
    if (claim === 'busy') throw new TransientError(`the message of plan ${planId} is being posted`);
    if (claim === 'posted') {
      await this.update(planId);
      return true;
    }
    const msg = planMessage(known, { dashboardUrl: this.settings.dashboardUrl });
    try {
      const res = await this.client.chat.postMessage({
        channel: this.settings.approvalsChannel,
        text: msg.text,
        blocks: msg.blocks,
        unfurl_links: false,
      });
      await this.repo.posted(
        planId,
        KIND,
        String(res.channel ?? this.settings.approvalsChannel),
        String(res.ts),
        'pending',
      );
      this.log.info('posted a plan to Slack', { plan_id: planId });
    } catch (err) {
      await this.repo.release(planId, KIND);
      throw new TransientError(`posting plan ${planId} to Slack failed: ${(err as Error).message}`, err);
    }
    // an item requested while this was posting is shown by the next update
    await this.update(planId);
    return true;
  }

  /**
   * An approval of a plan item has waited long: the whole plan goes to the escalation channel (once
   * per plan and fraction), since the item has no message of its own. False for a lone approval.
   */
  async onEscalated(env: Envelope<'approval_escalated'>): Promise<boolean> {
    const planId = await this.planOf(env.run_id!);
    if (!planId) return false;
    const kind = `plan-escalation:${env.data.fraction}`;
    const claim = await this.repo.claim(planId, kind, this.settings.escalationChannel, STALE_CLAIM_MS);
    if (claim === 'posted') return true;
    if (claim === 'busy') throw new TransientError(`the escalation of plan ${planId} is being posted`);
    const plan = await this.plans.get(planId);
    const msg = planMessage(plan!, { dashboardUrl: this.settings.dashboardUrl });
    const pct = Math.round(env.data.fraction * 100);
    const preface = `${this.settings.escalationMention ? `${this.settings.escalationMention} ` : ''}:rotating_light: A plan has waited ${pct}% of its time and still needs a decision.`;
    try {
      const res = await this.client.chat.postMessage({
        channel: this.settings.escalationChannel,
        text: `Escalation: ${msg.text}`,
        blocks: [{ type: 'section', text: { type: 'mrkdwn', text: preface } }, ...msg.blocks],
        unfurl_links: false,
      });
      await this.repo.posted(
        planId,
        kind,
        String(res.channel ?? this.settings.escalationChannel),
        String(res.ts),
        'pending',
      );
    } catch (err) {
      await this.repo.release(planId, kind);
      throw new TransientError(`posting the escalation of plan ${planId} failed: ${(err as Error).message}`, err);
    }
    return true;
  }

  /** Something happened to a run (a vote, a closure): its plan's message shows it. */
  async refresh(runId: string | null): Promise<void> {
    if (!runId) return;
    const planId = await this.plans.planOfRun(runId);
    if (planId) await this.update(planId);
  }

  /** Re-renders the plan's message(s) from the plan as it is now. */
  async update(planId: string): Promise<void> {
    const plan = await this.plans.get(planId);
    if (!plan) return;
    const msg = planMessage(plan, { dashboardUrl: this.settings.dashboardUrl });
    for (const m of await this.repo.messages(planId)) {
      // the plan's message and its escalations: every one shows the plan as it is now
      if (m.kind !== KIND && !m.kind.startsWith('plan-escalation:')) continue;
      try {
        await this.client.chat.update({ channel: m.channel, ts: m.ts!, text: msg.text, blocks: msg.blocks });
      } catch (err) {
        throw new TransientError(`updating plan ${planId} in Slack failed: ${(err as Error).message}`, err);
      }
    }
  }
}
