import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { DATA_SOURCE } from '@warden/runtime';
import type { ApprovalCard, ApprovalStatus } from '../domain/approval-blocks';

/** One posted (or being posted) Slack message of an approval. */
export interface SlackMessageRow {
  approval_id: string;
  kind: string;
  channel: string;
  ts: string | null;
  rendered: string | null;
}

/** What an approval's messages must show: the card from `approval_requested` and how it closed. */
export interface SlackApprovalRow {
  approval_id: string;
  card: ApprovalCard | null;
  closed_status: Exclude<ApprovalStatus, 'pending'> | null;
  closed_by: string[];
  closed_reason: string | null;
}

export type Claim = 'claimed' | 'posted' | 'busy';

/**
 * Slack bookkeeping (`approvals.slack_*`). A message is *claimed* before it is posted and keeps its
 * channel + ts after, so a redelivered event never posts twice; closing an approval and posting its
 * message meet in {@link claimUpdates}, so each message is updated to the closed state exactly once.
 */
@Injectable()
export class SlackMessagesRepository {
  constructor(@Inject(DATA_SOURCE) private readonly ds: DataSource) {}

  /** Stores the card (first one wins: every redelivery carries the same). */
  async saveCard(approvalId: string, card: ApprovalCard): Promise<void> {
    await this.ds.query(
      `INSERT INTO approvals.slack_approvals (approval_id, card) VALUES ($1, $2)
       ON CONFLICT (approval_id) DO UPDATE SET card = EXCLUDED.card, updated_at = now()
       WHERE slack_approvals.card IS NULL`,
      [approvalId, JSON.stringify(card)],
    );
  }

  async approval(approvalId: string): Promise<SlackApprovalRow | undefined> {
    const rows: SlackApprovalRow[] = await this.ds.query(
      'SELECT approval_id, card, closed_status, closed_by, closed_reason FROM approvals.slack_approvals WHERE approval_id = $1',
      [approvalId],
    );
    return rows[0];
  }

  /**
   * Claims the right to post message `kind` of an approval: `claimed` (post it now), `posted`
   * (already done: a redelivery) or `busy` (another delivery is posting; a claim older than
   * `staleMs` is taken over, as its holder died mid-call).
   */
  async claim(approvalId: string, kind: string, channel: string, staleMs: number): Promise<Claim> {
    const claimed: unknown[] = await this.ds.query(
      `INSERT INTO approvals.slack_messages (approval_id, kind, channel, claimed_at) VALUES ($1, $2, $3, now())
       ON CONFLICT (approval_id, kind) DO UPDATE SET claimed_at = now(), channel = EXCLUDED.channel
       WHERE slack_messages.ts IS NULL
         AND (slack_messages.claimed_at IS NULL OR slack_messages.claimed_at < now() - $4 * interval '1 millisecond')
       RETURNING approval_id`,
      [approvalId, kind, channel, staleMs],
    );
    if (claimed.length) return 'claimed';
    const rows: { ts: string | null }[] = await this.ds.query(
      'SELECT ts FROM approvals.slack_messages WHERE approval_id = $1 AND kind = $2',
      [approvalId, kind],
    );
    return rows[0]?.ts ? 'posted' : 'busy';
  }

  /** Records a posted message; `rendered` is the status it shows. */
  async posted(approvalId: string, kind: string, channel: string, ts: string, rendered: string): Promise<void> {
    await this.ds.query(
      `UPDATE approvals.slack_messages SET ts = $3, channel = $4, rendered = $5, posted_at = now(), claimed_at = NULL
       WHERE approval_id = $1 AND kind = $2`,
      [approvalId, kind, ts, channel, rendered],
    );
  }

  /** Gives a claim back after a failed post, so the retry may post. */
  async release(approvalId: string, kind: string): Promise<void> {
    await this.ds.query(
      'UPDATE approvals.slack_messages SET claimed_at = NULL WHERE approval_id = $1 AND kind = $2 AND ts IS NULL',
      [approvalId, kind],
    );
  }

  /** Records how the approval closed; the first closure wins (the engine closes an approval once). */
  async close(
    approvalId: string,
    status: Exclude<ApprovalStatus, 'pending'>,
    by: string[],
    reason: string | undefined,
    at: string,
  ): Promise<void> {
    await this.ds.query(
      `INSERT INTO approvals.slack_approvals (approval_id, closed_status, closed_by, closed_reason, closed_at)
       VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (approval_id) DO UPDATE SET closed_status = EXCLUDED.closed_status, closed_by = EXCLUDED.closed_by,
         closed_reason = EXCLUDED.closed_reason, closed_at = EXCLUDED.closed_at, updated_at = now()
       WHERE slack_approvals.closed_status IS NULL`,
      [approvalId, status, by, reason ?? null, at],
    );
  }

  /**
   * Turns a granted approval whose grant the orchestrator voided into a rejection with its reason
   * (the messages then show it on their next claim). Returns the approval's id, if the run had one.
   */
  async voidGrant(runId: string, reason: string, at: string): Promise<string | undefined> {
    const rows: { id: string }[] = await this.ds.query('SELECT id FROM approvals.inbox WHERE run_id = $1', [runId]);
    const approvalId = rows[0]?.id;
    if (!approvalId) return undefined;
    await this.ds.query(
      `INSERT INTO approvals.slack_approvals (approval_id, closed_status, closed_by, closed_reason, closed_at)
       VALUES ($1, 'rejected', '{}', $2, $3)
       ON CONFLICT (approval_id) DO UPDATE SET closed_status = 'rejected', closed_by = '{}',
         closed_reason = EXCLUDED.closed_reason, closed_at = EXCLUDED.closed_at, updated_at = now()
       WHERE slack_approvals.closed_status IS NULL OR slack_approvals.closed_status = 'granted'`,
      [approvalId, reason, at],
    );
    return approvalId;
  }

  /**
   * Claims every posted message of a closed approval that does not show the closure yet (marking it
   * as showing it). Posting and closing both call this after their own write, and concurrent callers
   * serialize on the rows, so each message is claimed for its closing update exactly once.
   */
  async claimUpdates(approvalId: string): Promise<SlackMessageRow[]> {
    // TypeORM answers an UPDATE … RETURNING with [rows, count]
    const [rows] = (await this.ds.query(
      `UPDATE approvals.slack_messages m SET rendered = a.closed_status
       FROM approvals.slack_approvals a
       WHERE m.approval_id = $1 AND a.approval_id = m.approval_id AND m.ts IS NOT NULL
         AND a.closed_status IS NOT NULL AND m.rendered IS DISTINCT FROM a.closed_status
       RETURNING m.approval_id, m.kind, m.channel, m.ts, m.rendered`,
      [approvalId],
    )) as [SlackMessageRow[], number];
    return rows;
  }

  /** Marks a claimed update as not done, so a retry does it. */
  async unrender(approvalId: string, kind: string): Promise<void> {
    await this.ds.query(
      `UPDATE approvals.slack_messages SET rendered = 'pending' WHERE approval_id = $1 AND kind = $2`,
      [approvalId, kind],
    );
  }

  /** Posted messages of an approval (for vote-progress updates). */
  async messages(approvalId: string): Promise<SlackMessageRow[]> {
    return this.ds.query(
      'SELECT approval_id, kind, channel, ts, rendered FROM approvals.slack_messages WHERE approval_id = $1 AND ts IS NOT NULL',
      [approvalId],
    );
  }
}
