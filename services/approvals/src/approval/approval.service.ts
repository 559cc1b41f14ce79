import { Inject, Injectable } from '@nestjs/common';
import type { DataSource, EntityManager } from 'typeorm';
import type { PubAck } from '@nats-io/jetstream';
import type { AnyEnvelope, Envelope, Subjects, TaskSubmission } from '@warden/contracts';
import { decodeEnvelope, makeEnvelope, type BusConnection, type OutgoingMessage, type Publisher } from '@warden/bus';
import { DomainError, TransientError, ValidationError, deriveId } from '@warden/kernel';
import { childSpan, tracingEnabled, traceparentOf, type Logger } from '@warden/observability';
import { BUS, CONFIG, DATA_SOURCE, LOGGER, PUBLISHER, SUBJECTS } from '@warden/runtime';
import type { Principal } from '@warden/identity';
import type { ApprovalsConfig } from '../config';
import {
  voteEventId,
  decideVote,
  type ApprovalStatus,
  type Recheck,
  type StandingRequest,
  type VoteChannel,
  type VoteKind,
} from './domain/approval';
import {
  CLOSED_STATUS,
  closureData,
  decideClosure,
  isClosing,
  recheckOutcome,
  standingGrant,
  standingIdOf,
  type ClosingType,
  type Closure,
  type ClosureTrigger,
} from './domain/closure.decide';
import {
  ApprovalRepository,
  decodeCursor,
  encodeCursor,
  type ApprovalView,
  type LoadedApproval,
} from './projections/approval.repository';
import { approvalMetrics } from './approval.metrics';
import { PolicyRecheck } from './policy-recheck';

export type { ApprovalView } from './projections/approval.repository';
export type { VoteChannel } from './domain/approval';

export interface VoteInput {
  approvalId: string;
  principal: Principal;
  vote: VoteKind;
  comment?: string;
  channel: VoteChannel;
  standing?: StandingRequest;
}

class VersionConflict extends Error {}

/**
 * A singleton duty's fence, run first in the transaction of each of its writes: throws if the duty's
 * leader that calls has been deposed (see `FencedLease.check`), so its late write is refused.
 */
export type WriteFence = (em: EntityManager) => Promise<void>;

const PRODUCER = 'approvals';

/**
 * The approvals engine. Every state change is an event on the log, published with a deterministic id
 * while the approval's row lock is held and before the transaction that records it commits; so an
 * answered vote is durable, a vote never counts twice, and an approval closes once.
 */
@Injectable()
export class ApprovalService {
  private readonly policy: PolicyRecheck;

  constructor(
    @Inject(DATA_SOURCE) private readonly ds: DataSource,
    @Inject(PUBLISHER) private readonly publisher: Publisher,
    @Inject(BUS) private readonly bus: BusConnection,
    @Inject(SUBJECTS) private readonly subjects: Subjects,
    @Inject(CONFIG) private readonly config: ApprovalsConfig,
    @Inject(LOGGER) private readonly log: Logger,
  ) {
    this.policy = new PolicyRecheck(bus, subjects, config.POLICY_RECHECK_TIMEOUT_MS);
  }

  async get(id: string): Promise<ApprovalView | undefined> {
    return (await new ApprovalRepository(this.ds.manager).load(id))?.view;
  }

  async list(f: {
    status?: string;
    limit?: number;
    cursor?: string;
  }): Promise<{ items: ApprovalView[]; next_cursor?: string }> {
    const statuses = ['pending', 'granted', 'rejected', 'expired'];
    if (f.status !== undefined && !statuses.includes(f.status))
      throw new ValidationError([{ path: 'status', message: `must be one of ${statuses.join(', ')}` }]);
    const limit = f.limit ?? 50;
    if (!Number.isInteger(limit) || limit < 1 || limit > 200)
      throw new ValidationError([{ path: 'limit', message: 'must be an integer 1..200' }]);
    const items = await new ApprovalRepository(this.ds.manager).list({
      status: f.status as ApprovalStatus | undefined,
      limit,
      before: f.cursor ? decodeCursor(f.cursor) : undefined,
    });
    const last = items[items.length - 1];
    return items.length === limit && last ? { items, next_cursor: encodeCursor(last.created_at, last.id) } : { items };
  }

  /**
   * Casts one vote. Optimistic concurrency: the vote commits only if the approval's version is still
   * the one it was decided on; otherwise it is decided again on fresh state. A reject closes the
   * approval at once; the vote that completes the quorum triggers the policy re-check and the grant.
   * @throws DomainError APPROVAL.NOT_FOUND, APPROVAL.ALREADY_DECIDED, APPROVAL.ALREADY_VOTED, AUTH.FORBIDDEN
   */
  async vote(i: VoteInput): Promise<ApprovalView> {
    let outcome: 'pending' | 'quorum' | 'rejected' = 'pending';
    for (let attempt = 0; ; attempt++) {
      try {
        outcome = await this.ds.transaction((em) => this.voteOnce(new ApprovalRepository(em), i));
        break;
      } catch (err) {
        if (!(err instanceof VersionConflict) || attempt >= 50) throw err;
      }
    }
    approvalMetrics.votes.inc({ channel: i.channel, vote: i.vote });
    if (outcome === 'quorum') await this.finalizeGrant(i.approvalId, this.config.POLICY_RECHECK_ATTEMPTS);
    return (await this.get(i.approvalId))!;
  }

  private async voteOnce(repo: ApprovalRepository, i: VoteInput): Promise<'pending' | 'quorum' | 'rejected'> {
    const a = await repo.load(i.approvalId);
    if (!a) throw new DomainError('APPROVAL.NOT_FOUND', 'no such approval');
    const now = new Date();
    const { vote, outcome } = decideVote(a.snapshot, { ...i }, now);
    if (!(await repo.bumpVersion(i.approvalId, a.version))) throw new VersionConflict();
    const voteEnv = makeEnvelope({
      type: 'approval_vote',
      id: voteEventId(i.approvalId, vote.operatorId),
      runId: a.view.run_id,
      producer: PRODUCER,
      traceId: a.view.trace_id,
      correlationId: a.view.run_id,
      occurredAt: now,
      data: {
        approval_id: i.approvalId,
        operator: vote.operator,
        operator_id: vote.operatorId,
        vote: vote.vote,
        channel: i.channel,
        ...(vote.comment ? { comment: vote.comment } : {}),
        ...(vote.standing ? { standing: vote.standing } : {}),
      },
    });
    await repo.insertVote(i.approvalId, vote, voteEnv.id).catch((err: unknown) => {
      // the log already held this operator's vote (an earlier attempt crashed before commit)
      if ((err as { code?: string }).code === '23505')
        throw new DomainError('APPROVAL.ALREADY_VOTED', 'this operator has already voted on this approval');
      throw err;
    });
    if (outcome !== 'rejected') {
      // a vote is part of the run's trace, under the request it answers (not the operator's HTTP trace)
      await this.publisher.publish({
        ...this.publisher.eventMessage(voteEnv),
        parent: await this.requestTraceparent(a.view.run_id),
      });
      return outcome;
    }
    await this.emitClosure(repo, a, decideClosure(a.snapshot, { kind: 'reject', vote }, now)!, [voteEnv]);
    return outcome;
  }

  /**
   * Completes a grant whose quorum is reached: asks the policy whether the action is still allowed
   * under the active bundle, then emits `approval_granted` (bound to the action hash, policy digest and
   * tier) or voids the approval (`approval_rejected` with the reason). When the policy does not
   * answer, the votes stay recorded and the sweeper tries again (until the approval expires).
   * @returns true once the approval is closed
   */
  async finalizeGrant(approvalId: string, attempts: number, fence?: WriteFence): Promise<boolean> {
    const a = await new ApprovalRepository(this.ds.manager).load(approvalId);
    if (!a || a.snapshot.status !== 'pending') return true;
    let verdict: Recheck | undefined;
    for (let n = 0; n < attempts && !verdict; n++) {
      try {
        verdict = recheckOutcome(a.view.tier, await this.policy.evaluate(this.submissionOf(a)));
      } catch (err) {
        if (!(err instanceof TransientError)) throw err;
        approvalMetrics.recheckFailures.inc();
        this.log.warn('policy re-check failed; will retry', { approval_id: approvalId, error: err.message });
        if (n + 1 < attempts) await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** n, 2000)));
      }
    }
    if (!verdict) return false;
    await this.closeUnderLock(approvalId, fence, { kind: 'recheck', verdict });
    return true;
  }

  /** Expires an approval that is still pending (the sweeper calls this when `expires_at` has passed). */
  async expire(approvalId: string, now = new Date(), fence?: WriteFence): Promise<boolean> {
    return this.closeUnderLock(approvalId, fence, { kind: 'expire' }, now);
  }

  /**
   * Closes a pending approval whose run ended by a run event (cancelled, denied, failed, succeeded):
   * `approval_expired` with the reason, so the inbox, Slack and the dashboard close it as they close an
   * expiry, and no vote can grant what will never run. The sweeper calls this.
   */
  async closeForEndedRun(
    approvalId: string,
    runStatus: string,
    reason: string | null,
    fence?: WriteFence,
  ): Promise<boolean> {
    return this.closeUnderLock(approvalId, fence, { kind: 'run_ended', runStatus, reason });
  }

  /**
   * Emits `approval_escalated` once per approval (deterministic id; recorded in approval_state). With
   * a fence (the sweeper's), the publish and its record happen only while the caller still leads.
   */
  async escalate(
    a: { id: string; run_id: string; trace_id: string },
    now = new Date(),
    fence?: WriteFence,
  ): Promise<void> {
    const parent = await this.requestTraceparent(a.run_id);
    await this.ds.transaction(async (em) => {
      await fence?.(em);
      await this.publisher.publish({
        parent,
        ...this.publisher.eventMessage(
          makeEnvelope({
            type: 'approval_escalated',
            id: deriveId(a.id, 'approval_escalated'),
            runId: a.run_id,
            producer: PRODUCER,
            traceId: a.trace_id,
            correlationId: a.run_id,
            occurredAt: now,
            data: {
              approval_id: a.id,
              fraction: this.config.APPROVAL_ESCALATION_FRACTION,
              notified: this.config.APPROVAL_ESCALATION_NOTIFY,
            },
          }),
        ),
      });
      await new ApprovalRepository(em).markEscalated(a.id, now);
    });
    approvalMetrics.escalations.inc();
  }

  private submissionOf(a: LoadedApproval): TaskSubmission {
    return {
      run_id: a.view.run_id,
      agent: a.view.agent,
      ...(a.view.session_id ? { session_id: a.view.session_id } : {}),
      action: a.view.action,
    };
  }

  /** The events a grant publishes after its closure: the standing approval its votes asked for, if any. */
  private standingEvents(a: LoadedApproval, now: Date): Envelope[] {
    const data = standingGrant(
      {
        id: a.view.id,
        tier: a.view.tier,
        agentId: a.view.agent.id,
        sessionId: a.view.session_id,
        tool: a.view.action.tool,
      },
      a.snapshot.votes,
      now,
    );
    if (!data) return [];
    return [
      makeEnvelope({
        type: 'standing_approval_granted',
        id: deriveId(a.view.id, 'standing_approval_granted'),
        runId: null,
        producer: PRODUCER,
        traceId: a.view.trace_id,
        correlationId: standingIdOf(a.view.id),
        data,
      }),
    ];
  }

  /**
   * Closes an approval once: takes the approval's row lock, re-reads it, and if still pending and
   * `decideClosure` says so, publishes the closure and records it before committing.
   */
  private async closeUnderLock(
    approvalId: string,
    fence: WriteFence | undefined,
    trigger: ClosureTrigger,
    now = new Date(),
  ): Promise<boolean> {
    return this.ds.transaction(async (em) => {
      await fence?.(em);
      const repo = new ApprovalRepository(em);
      await repo.lockForClose(approvalId);
      const a = await repo.load(approvalId);
      if (!a) return false;
      const c = decideClosure(a.snapshot, trigger, now);
      if (!c) return false;
      if (c.voided) approvalMetrics.voided.inc();
      const extra = c.type === 'approval_granted' ? this.standingEvents(a, now) : [];
      await this.emitClosure(repo, a, c, [], extra);
      await repo.bumpVersion(approvalId, a.version);
      return true;
    });
  }

  /**
   * Publishes `before` (e.g. the closing vote), then the closure, then `extra`, and records the closure.
   * Every closure of one approval has the same id, so the broker keeps only the first ever published:
   * if an earlier attempt crashed after publishing, the record follows what the log holds.
   */
  private async emitClosure(
    repo: ApprovalRepository,
    a: LoadedApproval,
    c: Closure,
    before: Envelope[],
    extra: Envelope[] = [],
  ): Promise<void> {
    const now = new Date();
    const closure = makeEnvelope({
      type: c.type,
      id: deriveId(a.view.id, 'approval_closed'),
      runId: a.view.run_id,
      producer: PRODUCER,
      traceId: a.view.trace_id,
      correlationId: a.view.run_id,
      occurredAt: now,
      data: closureData(a.view, c),
    });
    // the wait is a span of the run's trace (from the request to now), under the request's publish;
    // the vote and the closure are published under it, whichever request or timer closed it
    const wait = childSpan(
      'approvals',
      'approval_wait',
      a.view.trace_id,
      {
        'warden.run_id': a.view.run_id,
        'warden.approval_id': a.view.id,
        'warden.tier': a.view.tier,
        'warden.approval.outcome': CLOSED_STATUS[c.type],
        'gen_ai.tool.name': a.view.action.tool,
        'gen_ai.agent.id': a.view.agent.id,
        ...(a.view.session_id ? { 'gen_ai.conversation.id': a.view.session_id } : {}),
      },
      { startTime: Date.parse(a.view.created_at), parent: await this.requestTraceparent(a.view.run_id) },
    );
    const parent = traceparentOf(wait);
    const msgs: OutgoingMessage[] = [
      ...before.map((e) => ({ ...this.publisher.eventMessage(e), wave: 0, parent })),
      { ...this.publisher.eventMessage(closure), wave: 1, parent },
    ];
    const acks = await this.publisher.publishAll(msgs).finally(() => wait?.end());
    const ack = acks[acks.length - 1]!;
    let recorded: { env: AnyEnvelope | Envelope<ClosingType>; seq: number } = { env: closure, seq: ack.seq };
    if (ack.duplicate) recorded = await this.storedClosure(ack);
    if (!isClosing(recorded.env.type)) throw new TransientError('closure id holds an unexpected event');
    const env = recorded.env as Envelope<ClosingType>;
    await repo.insertClosure({
      id: a.view.id,
      status: CLOSED_STATUS[env.type],
      closedAt: env.occurred_at,
      operators: env.data.operators,
      streamSeq: recorded.seq,
      reason: env.data.reason,
    });
    if (env.id === closure.id && env.type === c.type && extra.length) await this.publisher.publishEvents(extra);
    const outcome = CLOSED_STATUS[env.type];
    approvalMetrics.waitSeconds.observe(
      { outcome, tier: String(a.view.tier) },
      (Date.parse(env.occurred_at) - Date.parse(a.view.created_at)) / 1000,
    );
    if (outcome === 'expired') approvalMetrics.expiries.inc();
    else approvalMetrics.decisions.inc({ channel: env.data.channel ?? 'none', outcome });
  }

  /** The `traceparent` `approval_requested` was published with (only read while spans are exported). */
  private async requestTraceparent(runId: string): Promise<string | undefined> {
    if (!tracingEnabled()) return undefined;
    const m = await this.bus.jsm.streams
      .getMessage(this.subjects.streams.events, { last_by_subj: this.subjects.event(runId, 'approval_requested') })
      .catch(() => null);
    return m?.header?.get('traceparent') || undefined;
  }

  private async storedClosure(ack: PubAck): Promise<{ env: AnyEnvelope; seq: number }> {
    const m = await this.bus.jsm.streams.getMessage(ack.stream, { seq: ack.seq });
    if (!m) throw new TransientError(`closure at seq ${ack.seq} not readable`);
    return { env: decodeEnvelope(m.json()), seq: ack.seq };
  }
}
