import type { EntityManager } from 'typeorm';
import type { Action, Agent, Decision } from '@warden/contracts';
import { ValidationError, isUuid, sha256Canonical } from '@warden/kernel';
import type { ApprovalSnapshot, ApprovalStatus, VoteChannel, VoteKind, VoteRecord } from '../domain/approval';

/** An approval as the APIs (REST, Slack, dashboard, CLI) show it. */
export interface ApprovalView {
  id: string;
  run_id: string;
  tier: number;
  status: ApprovalStatus;
  required_votes: number;
  /** Every vote, naming its operator by id and (display) name. */
  votes: {
    operator: string;
    operator_id: string;
    vote: VoteKind;
    comment?: string;
    at: string;
    channel: VoteChannel;
  }[];
  expires_at: string;
  created_at: string;
  closed_at?: string;
  /** Why it closed the way it did (e.g. the policy re-check voided it). */
  closed_reason?: string;
  /**
   * Granted here, then voided by the orchestrator (the grant did not bind to the run's action, digest
   * or signed votes): shown as `rejected` with the orchestrator's reason, never as `granted`.
   */
  voided?: true;
  agent: Agent;
  session_id?: string;
  action: Action;
  decision: Decision;
  reasons: string[];
  action_hash: string;
  policy_digest: string;
  trace_id: string;
}

interface InboxRow {
  id: string;
  run_id: string;
  tier: number;
  required_votes: number;
  status: ApprovalStatus;
  agent: Agent;
  session_id: string | null;
  action: Action;
  decision: Decision;
  trace_id: string;
  expires_at: Date;
  requested_at: Date;
  closed_at: Date | null;
  closed_reason: string | null;
  version: number;
  /** The run's terminal status when a run event ended it (cancelled, …), else null. */
  run_ended: string | null;
  run_ended_reason: string | null;
}

/** A grant the orchestrator refused: the run was denied after the approval was granted. */
function isVoided(r: Pick<InboxRow, 'status' | 'run_ended'>): boolean {
  return r.status === 'granted' && r.run_ended === 'denied';
}

/** SQL twin of {@link isVoided}, over SELECT_INBOX's aliases. */
const VOIDED_SQL = `(i.status = 'granted' AND COALESCE(e.status, '') = 'denied')`;

interface VoteRow {
  approval_id: string;
  operator_id: string;
  operator: string;
  vote: VoteKind;
  comment: string | null;
  channel: VoteChannel | null;
  standing: VoteRecord['standing'] | null;
  at: Date;
}

/** An approval loaded for a command, with its concurrency token. */
export interface LoadedApproval {
  snapshot: ApprovalSnapshot;
  view: ApprovalView;
  version: number;
}

const SELECT_INBOX = `SELECT i.id, i.run_id, i.tier, i.required_votes, i.status, i.agent, i.session_id, i.action, i.decision,
  i.trace_id, i.expires_at, i.requested_at, i.closed_at, i.closed_reason, COALESCE(s.version, 0) AS version,
  e.status AS run_ended, e.reason AS run_ended_reason
  FROM approvals.inbox i LEFT JOIN approvals.approval_state s USING (id)
  LEFT JOIN approvals.run_endings e ON e.run_id = i.run_id`;

function toVote(r: VoteRow): VoteRecord {
  return {
    operatorId: r.operator_id,
    operator: r.operator,
    vote: r.vote,
    ...(r.comment ? { comment: r.comment } : {}),
    ...(r.channel ? { channel: r.channel } : {}),
    ...(r.standing ? { standing: r.standing } : {}),
    at: r.at.toISOString(),
  };
}

function toView(r: InboxRow, votes: VoteRecord[]): ApprovalView {
  return {
    id: r.id,
    run_id: r.run_id,
    tier: r.tier,
    status: isVoided(r) ? 'rejected' : r.status,
    required_votes: r.required_votes,
    votes: votes.map((v) => ({
      operator: v.operator,
      operator_id: v.operatorId,
      vote: v.vote,
      ...(v.comment ? { comment: v.comment } : {}),
      at: v.at,
      channel: v.channel ?? 'rest',
    })),
    expires_at: r.expires_at.toISOString(),
    created_at: r.requested_at.toISOString(),
    ...(r.closed_at ? { closed_at: r.closed_at.toISOString() } : {}),
    ...(r.closed_reason ? { closed_reason: r.closed_reason } : {}),
    ...(isVoided(r)
      ? { voided: true as const, closed_reason: r.run_ended_reason ?? 'the orchestrator voided the grant' }
      : {}),
    agent: r.agent,
    ...(r.session_id ? { session_id: r.session_id } : {}),
    action: r.action,
    decision: r.decision,
    reasons: r.decision.reasons,
    action_hash: sha256Canonical(r.action),
    policy_digest: r.decision.policy_digest,
    trace_id: r.trace_id,
  };
}

function toSnapshot(r: InboxRow, votes: VoteRecord[]): ApprovalSnapshot {
  return {
    id: r.id,
    tier: r.tier,
    requiredVotes: r.required_votes,
    status: r.status,
    expiresAt: r.expires_at.toISOString(),
    agentId: r.agent.id,
    ...(r.session_id ? { sessionId: r.session_id } : {}),
    ...(r.run_ended ? { runEnded: r.run_ended } : {}),
    votes,
  };
}

export function encodeCursor(createdAt: string, id: string): string {
  return Buffer.from(`${createdAt}|${id}`).toString('base64url');
}
export function decodeCursor(cursor: string): { createdAt: string; id: string } {
  const [createdAt, id] = Buffer.from(cursor, 'base64url').toString().split('|');
  if (!createdAt || !id || !isUuid(id) || Number.isNaN(Date.parse(createdAt)))
    throw new ValidationError([{ path: 'cursor', message: 'not a cursor returned by this API' }]);
  return { createdAt, id };
}

/** All approval I/O: loads for commands, writes of votes/closures/state, reads for the APIs. */
export class ApprovalRepository {
  constructor(private readonly em: EntityManager) {}

  async load(id: string): Promise<LoadedApproval | undefined> {
    if (!isUuid(id)) return undefined;
    const rows: InboxRow[] = await this.em.query(`${SELECT_INBOX} WHERE i.id = $1`, [id]);
    const r = rows[0];
    if (!r) return undefined;
    const votes = (await this.votes([id])).get(id) ?? [];
    return { snapshot: toSnapshot(r, votes), view: toView(r, votes), version: Number(r.version) };
  }

  async votes(ids: string[]): Promise<Map<string, VoteRecord[]>> {
    const out = new Map<string, VoteRecord[]>();
    if (ids.length === 0) return out;
    const rows: VoteRow[] = await this.em.query(
      'SELECT * FROM approvals.votes WHERE approval_id = ANY($1::uuid[]) ORDER BY at, operator_id',
      [ids],
    );
    for (const r of rows) out.set(r.approval_id, [...(out.get(r.approval_id) ?? []), toVote(r)]);
    return out;
  }

  async list(f: {
    status?: ApprovalStatus;
    limit: number;
    before?: { createdAt: string; id: string };
  }): Promise<ApprovalView[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (f.status) {
      params.push(f.status);
      // a voided grant lists as rejected, not granted
      if (f.status === 'granted') where.push(`i.status = $${params.length} AND NOT ${VOIDED_SQL}`);
      else if (f.status === 'rejected') where.push(`(i.status = $${params.length} OR ${VOIDED_SQL})`);
      else where.push(`i.status = $${params.length}`);
    }
    if (f.before) {
      params.push(f.before.createdAt, f.before.id);
      where.push(`(i.requested_at, i.id) < ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
    }
    params.push(f.limit);
    const rows: InboxRow[] = await this.em.query(
      `${SELECT_INBOX} ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
       ORDER BY i.requested_at DESC, i.id DESC LIMIT $${params.length}`,
      params,
    );
    const votes = await this.votes(rows.map((r) => r.id));
    return rows.map((r) => toView(r, votes.get(r.id) ?? []));
  }

  /**
   * Records a vote (the primary key makes a second vote by one operator fail with 23505).
   */
  async insertVote(approvalId: string, v: VoteRecord, eventId: string): Promise<void> {
    await this.em.query(
      `INSERT INTO approvals.votes (approval_id, operator_id, operator, vote, comment, channel, standing, at, event_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [
        approvalId,
        v.operatorId,
        v.operator,
        v.vote,
        v.comment ?? null,
        v.channel ?? null,
        v.standing ? JSON.stringify(v.standing) : null,
        v.at,
        eventId,
      ],
    );
  }

  /**
   * Optimistic concurrency: moves the approval from `expected` to `expected + 1`. False when another
   * command moved it first (the caller re-reads and decides again). The row lock taken here is held to
   * commit, so a concurrent command waits and then sees the new version.
   */
  async bumpVersion(approvalId: string, expected: number): Promise<boolean> {
    const rows: unknown[] = await this.em.query(
      `INSERT INTO approvals.approval_state (id, version) VALUES ($1, $2 + 1)
       ON CONFLICT (id) DO UPDATE SET version = approval_state.version + 1 WHERE approval_state.version = $2
       RETURNING id`,
      [approvalId, expected],
    );
    return rows.length === 1;
  }

  /** Locks the approval for a closure (pessimistic: closing is rare and must happen once). Returns the version. */
  async lockForClose(approvalId: string): Promise<number> {
    await this.em.query('INSERT INTO approvals.approval_state (id) VALUES ($1) ON CONFLICT (id) DO NOTHING', [
      approvalId,
    ]);
    const rows: { version: number }[] = await this.em.query(
      'SELECT version FROM approvals.approval_state WHERE id = $1 FOR UPDATE',
      [approvalId],
    );
    return Number(rows[0]!.version);
  }

  async insertClosure(c: {
    id: string;
    status: Exclude<ApprovalStatus, 'pending'>;
    closedAt: string;
    operators: string[];
    streamSeq: number;
    reason?: string;
  }): Promise<void> {
    await this.em.query(
      `INSERT INTO approvals.approval_closures (id, status, closed_at, operators, stream_seq, reason)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, closed_at = EXCLUDED.closed_at,
         operators = EXCLUDED.operators, stream_seq = EXCLUDED.stream_seq, reason = EXCLUDED.reason
       WHERE EXCLUDED.stream_seq < approval_closures.stream_seq`,
      [c.id, c.status, c.closedAt, c.operators, c.streamSeq, c.reason ?? null],
    );
  }

  async markEscalated(approvalId: string, at: Date): Promise<void> {
    await this.em.query(
      `INSERT INTO approvals.approval_state (id, escalated_at) VALUES ($1, $2)
       ON CONFLICT (id) DO UPDATE SET escalated_at = COALESCE(approval_state.escalated_at, EXCLUDED.escalated_at)`,
      [approvalId, at],
    );
  }

  /** Pending approvals past their expiry. */
  async dueForExpiry(now: Date, limit = 200): Promise<string[]> {
    const rows: { id: string }[] = await this.em.query(
      `SELECT id FROM approvals.inbox WHERE status = 'pending' AND expires_at <= $1 ORDER BY expires_at LIMIT $2`,
      [now, limit],
    );
    return rows.map((r) => r.id);
  }

  /** Pending approvals that have waited `fraction` of their time and have not been escalated. */
  async dueForEscalation(
    now: Date,
    fraction: number,
    limit = 200,
  ): Promise<{ id: string; run_id: string; trace_id: string }[]> {
    return this.em.query(
      `SELECT i.id, i.run_id, i.trace_id FROM approvals.inbox i LEFT JOIN approvals.approval_state s USING (id)
       WHERE i.status = 'pending' AND s.escalated_at IS NULL AND i.expires_at > $1
         AND i.requested_at + (i.expires_at - i.requested_at) * $2::float8 <= $1
       ORDER BY i.expires_at LIMIT $3`,
      [now, fraction, limit],
    );
  }

  /** Pending approvals with enough approving votes whose grant has not been emitted yet (policy did not answer). */
  async quorumWithoutClosure(now: Date, limit = 100): Promise<string[]> {
    const rows: { id: string }[] = await this.em.query(
      `SELECT i.id FROM approvals.inbox i
       WHERE i.status = 'pending' AND i.expires_at > $1
         AND (SELECT count(*) FROM approvals.votes v WHERE v.approval_id = i.id AND v.vote = 'approve') >= i.required_votes
       LIMIT $2`,
      [now, limit],
    );
    return rows.map((r) => r.id);
  }

  /** Pending approvals whose run has ended (cancelled, denied, failed, succeeded): to be closed. */
  async pendingOfEndedRuns(limit = 200): Promise<{ id: string; status: string; reason: string | null }[]> {
    return this.em.query(
      `SELECT i.id, e.status, e.reason FROM approvals.inbox i JOIN approvals.run_endings e ON e.run_id = i.run_id
       WHERE i.status = 'pending' ORDER BY e.occurred_at LIMIT $1`,
      [limit],
    );
  }

  async pendingByTier(): Promise<{ tier: number; n: number }[]> {
    const rows: { tier: number; n: string }[] = await this.em.query(
      `SELECT tier, count(*) AS n FROM approvals.inbox WHERE status = 'pending' GROUP BY tier`,
    );
    return rows.map((r) => ({ tier: r.tier, n: Number(r.n) }));
  }
}
