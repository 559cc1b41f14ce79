import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import type { Action, Agent, RunResult, Subjects, TaskSubmission } from '@warden/contracts';
import { makeEnvelope, type Publisher } from '@warden/bus';
import { DomainError, ValidationError, deriveId, isUuid } from '@warden/kernel';
import { DATA_SOURCE, PUBLISHER, SUBJECTS } from '@warden/runtime';
import { hasRole, type Principal } from '@warden/identity';
import { compensationFor } from './domain/compensation';

export type ReviewStatus = 'pending' | 'fine' | 'flagged';

/** A review item as the API shows it. */
export interface ReviewView {
  id: string;
  run_id: string;
  status: ReviewStatus;
  agent: Agent | null;
  session_id: string | null;
  action: Action;
  result: RunResult;
  output_hash: string;
  outcome: string | null;
  rule_ids: string[];
  requested_at: string;
  trace_id: string;
  /** What flagging would propose (or did), if the tool has a compensation. */
  compensation_action: Action | null;
  resolution: {
    verdict: 'fine' | 'flagged';
    operator: string;
    comment: string | null;
    compensation_run_id: string | null;
    resolved_at: string;
  } | null;
}

interface Row {
  id: string;
  run_id: string;
  agent: Agent | null;
  session_id: string | null;
  action: Action;
  result: RunResult;
  outcome: string | null;
  rule_ids: string[];
  trace_id: string;
  requested_at: Date;
  verdict: 'fine' | 'flagged' | null;
  operator: string | null;
  comment: string | null;
  compensation_run_id: string | null;
  compensation_action: Action | null;
  resolved_at: Date | null;
}

const SELECT = `SELECT r.*, x.verdict, x.operator, x.comment, x.compensation_run_id, x.compensation_action, x.resolved_at
  FROM approvals.reviews r LEFT JOIN approvals.review_resolutions x USING (id)`;

function toView(r: Row): ReviewView {
  return {
    id: r.id,
    run_id: r.run_id,
    status: r.verdict ?? 'pending',
    agent: r.agent,
    session_id: r.session_id,
    action: r.action,
    result: r.result,
    output_hash: r.result.output_hash,
    outcome: r.outcome,
    rule_ids: r.rule_ids,
    requested_at: r.requested_at.toISOString(),
    trace_id: r.trace_id,
    compensation_action: r.verdict ? r.compensation_action : (compensationFor(r.action, r.result) ?? null),
    resolution: r.verdict
      ? {
          verdict: r.verdict,
          operator: r.operator!,
          comment: r.comment,
          compensation_run_id: r.compensation_run_id,
          resolved_at: r.resolved_at!.toISOString(),
        }
      : null,
  };
}

/**
 * Act now, review later: reviewers mark a finished `review: true` run fine or flag it; flagging proposes
 * the tool's compensating action as a new run (published to the ingest subject, so it is validated and
 * policy-checked like any submission) and records `review_resolved`.
 */
@Injectable()
export class ReviewService {
  constructor(
    @Inject(DATA_SOURCE) private readonly ds: DataSource,
    @Inject(PUBLISHER) private readonly publisher: Publisher,
    @Inject(SUBJECTS) private readonly subjects: Subjects,
  ) {}

  async list(f: { status?: string; limit?: number }): Promise<{ items: ReviewView[] }> {
    const statuses = ['pending', 'fine', 'flagged'];
    if (f.status !== undefined && !statuses.includes(f.status))
      throw new ValidationError([{ path: 'status', message: `must be one of ${statuses.join(', ')}` }]);
    const limit = f.limit ?? 50;
    if (!Number.isInteger(limit) || limit < 1 || limit > 200)
      throw new ValidationError([{ path: 'limit', message: 'must be an integer 1..200' }]);
    const where = f.status ? `WHERE COALESCE(x.verdict, 'pending') = $2` : '';
    const rows: Row[] = await this.ds.query(`${SELECT} ${where} ORDER BY r.requested_at DESC, r.id DESC LIMIT $1`, [
      limit,
      ...(f.status ? [f.status] : []),
    ]);
    return { items: rows.map(toView) };
  }

  async get(id: string): Promise<ReviewView | undefined> {
    if (!isUuid(id)) return undefined;
    const rows: Row[] = await this.ds.query(`${SELECT} WHERE r.id = $1`, [id]);
    return rows[0] ? toView(rows[0]) : undefined;
  }

  /**
   * Resolves a review item once.
   * @throws DomainError REVIEW.NOT_FOUND, REVIEW.ALREADY_RESOLVED, AUTH.FORBIDDEN
   */
  async resolve(i: {
    reviewId: string;
    verdict: 'fine' | 'flagged';
    principal: Principal;
    comment?: string;
  }): Promise<ReviewView> {
    if (i.principal.kind === 'api_key' || !hasRole(i.principal, 'approver'))
      throw new DomainError('AUTH.FORBIDDEN', 'requires role approver');
    const review = await this.get(i.reviewId);
    if (!review) throw new DomainError('REVIEW.NOT_FOUND', 'no such review item');
    await this.ds.transaction(async (em) => {
      const now = new Date();
      const comp = i.verdict === 'flagged' ? compensationFor(review.action, review.result) : undefined;
      const compRunId = comp ? deriveId(i.reviewId, 'compensation') : undefined;
      const inserted: unknown[] = await em.query(
        `INSERT INTO approvals.review_resolutions (id, verdict, operator, comment, compensation_run_id, compensation_action, resolved_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING RETURNING id`,
        [
          i.reviewId,
          i.verdict,
          i.principal.name,
          i.comment ?? null,
          compRunId ?? null,
          comp ? JSON.stringify(comp) : null,
          now,
        ],
      );
      if (inserted.length === 0)
        throw new DomainError('REVIEW.ALREADY_RESOLVED', 'this review item is already resolved');
      if (comp && compRunId) {
        const submission: TaskSubmission = {
          run_id: compRunId,
          idempotency_key: `review:${i.reviewId}`,
          agent: review.agent ?? { id: 'warden-review', role: 'dev' },
          ...(review.session_id ? { session_id: review.session_id } : {}),
          action: comp,
          intent: `compensate run ${review.run_id} (review ${i.reviewId} flagged by ${i.principal.name})`,
          metadata: { compensates_run_id: review.run_id, review_id: i.reviewId, flagged_by: i.principal.name },
        };
        // the PubAck is the durable hand-off; the msg id makes a retried flag one run
        await this.publisher.publish({
          subject: this.subjects.ingestTasks,
          payload: submission,
          msgId: compRunId,
          traceId: review.trace_id,
          kind: 'task',
        });
      }
      await this.publisher.publishEvent(
        makeEnvelope({
          type: 'review_resolved',
          id: deriveId(i.reviewId, 'review_resolved'),
          runId: review.run_id,
          producer: 'approvals',
          traceId: review.trace_id,
          correlationId: review.run_id,
          occurredAt: now,
          data: {
            review_id: i.reviewId,
            verdict: i.verdict,
            operator: i.principal.name,
            ...(i.comment ? { comment: i.comment } : {}),
            ...(compRunId ? { compensation_run_id: compRunId } : {}),
            ...(comp ? { compensation_action: comp } : {}),
          },
        }),
      );
    });
    return (await this.get(i.reviewId))!;
  }
}
