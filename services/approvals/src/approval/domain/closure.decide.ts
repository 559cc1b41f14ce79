import type { Decision } from '@warden/contracts';
import { deriveId } from '@warden/kernel';
import {
  approvers,
  countedVotes,
  recheckVerdict,
  standingFrom,
  voteEventId,
  type ApprovalSnapshot,
  type ApprovalStatus,
  type Recheck,
  type VoteChannel,
  type VoteRecord,
} from './approval';

/** The events that close an approval, and the status each one leaves. */
export type ClosingType = 'approval_granted' | 'approval_rejected' | 'approval_expired';
export const CLOSED_STATUS: Record<ClosingType, Exclude<ApprovalStatus, 'pending'>> = {
  approval_granted: 'granted',
  approval_rejected: 'rejected',
  approval_expired: 'expired',
};

export function isClosing(type: string): type is ClosingType {
  return type === 'approval_granted' || type === 'approval_rejected' || type === 'approval_expired';
}

/** A counted vote as a grant (or a reject) names it: its `approval_vote` event id and its operator. */
export interface CountedVote {
  vote_id: string;
  operator_id: string;
  operator: string;
}

/** The closure to publish, decided on the approval's state read under its row lock. */
export interface Closure {
  type: ClosingType;
  operators: string[];
  /** On a grant: the approve votes it counts; on a reject: the rejecting vote. */
  votes?: CountedVote[];
  reason?: string;
  channel?: VoteChannel;
  /** A grant the policy re-check turned down (`approval_rejected` with the policy's reason). */
  voided?: true;
}

/** What may close an approval. */
export type ClosureTrigger =
  /** an operator's reject vote, as `decideVote` recorded it (one reject closes the approval) */
  | { kind: 'reject'; vote: VoteRecord }
  /** the policy's verdict on a grant whose quorum is in (see `recheckOutcome`) */
  | { kind: 'recheck'; verdict: Recheck }
  /** the sweeper: `expires_at` may have passed */
  | { kind: 'expire' }
  /** the run ended by a run event (cancelled, denied, failed, succeeded) while the approval was open */
  | { kind: 'run_ended'; runStatus: string; reason: string | null };

/**
 * Decides whether and how an approval closes. Pure: time comes in as `now`. `undefined` = no closure
 * (already closed, quorum not in, not yet expired).
 * @example decideClosure(snapshot, { kind: 'recheck', verdict: { ok: true } }, now) // { type: 'approval_granted', … }
 */
export function decideClosure(s: ApprovalSnapshot, t: ClosureTrigger, now: Date): Closure | undefined {
  if (s.status !== 'pending') return undefined;
  switch (t.kind) {
    case 'reject':
      return {
        type: 'approval_rejected',
        operators: [t.vote.operator],
        votes: [
          { vote_id: voteEventId(s.id, t.vote.operatorId), operator_id: t.vote.operatorId, operator: t.vote.operator },
        ],
        ...(t.vote.channel ? { channel: t.vote.channel } : {}),
      };
    case 'recheck': {
      if (approvers(s.votes).length < s.requiredVotes) return undefined;
      // the channel of the vote that completed the quorum
      const channel = s.votes.filter((v) => v.vote === 'approve').pop()?.channel;
      if (!t.verdict.ok)
        return {
          type: 'approval_rejected',
          operators: approvers(s.votes),
          reason: t.verdict.reason,
          ...(channel ? { channel } : {}),
          voided: true,
        };
      return {
        type: 'approval_granted',
        operators: approvers(s.votes),
        votes: countedVotes(s.id, s.votes),
        ...(channel ? { channel } : {}),
      };
    }
    case 'expire':
      return Date.parse(s.expiresAt) <= now.getTime()
        ? { type: 'approval_expired', operators: [], reason: `no decision before ${s.expiresAt}` }
        : undefined;
    case 'run_ended':
      return {
        type: 'approval_expired',
        operators: [],
        reason: `the run was ${t.runStatus}${t.reason ? ` (${t.reason})` : ''} before a decision`,
      };
  }
}

/** The policy's answer to a re-check: a Decision, or a refusal it gave for good (a 4xx problem). */
export type RecheckAnswer = { kind: 'decision'; decision: Decision } | { kind: 'refused'; detail: string };

/**
 * What the policy's answer means for a grant at `approvedTier`: a refusal voids it, a decision is judged
 * by `recheckVerdict` (an enforced deny or a higher tier voids it).
 */
export function recheckOutcome(approvedTier: number, answer: RecheckAnswer): Recheck {
  return answer.kind === 'refused'
    ? { ok: false, reason: `policy re-check refused the action: ${answer.detail}` }
    : recheckVerdict(approvedTier, answer.decision);
}

/** What a closure event binds: the approval and, on a grant, the action it was granted for. */
export interface ClosedApproval {
  id: string;
  tier: number;
  action_hash: string;
  policy_digest: string;
}

/** The `data` of the closure event: a grant repeats the action hash, policy digest and tier it binds. */
export function closureData(a: ClosedApproval, c: Closure) {
  return {
    approval_id: a.id,
    operators: c.operators,
    ...(c.votes ? { votes: c.votes } : {}),
    ...(c.reason ? { reason: c.reason } : {}),
    ...(c.channel ? { channel: c.channel } : {}),
    ...(c.type === 'approval_granted'
      ? { action_hash: a.action_hash, policy_digest: a.policy_digest, tier: a.tier as 1 | 2 | 3 }
      : {}),
  };
}

/** What a standing approval is granted for: the approval's agent, session and tool. */
export interface StandingSubject {
  id: string;
  tier: number;
  agentId: string;
  sessionId?: string | null;
  tool: string;
}

/**
 * The `standing_approval_granted` data a grant carries when its approving votes asked for one (the
 * narrowest scope, the shortest time, from `now`); undefined when none asked.
 */
export function standingGrant(a: StandingSubject, votes: VoteRecord[], now: Date) {
  const st = standingFrom(votes);
  if (!st) return undefined;
  return {
    standing_id: standingIdOf(a.id),
    approval_id: a.id,
    scope: st.scope,
    agent_id: a.agentId,
    ...(st.scope === 'session' && a.sessionId ? { session_id: a.sessionId } : {}),
    tool: a.tool,
    max_tier: a.tier as 1 | 2 | 3,
    expires_at: new Date(now.getTime() + st.ttl_seconds * 1000).toISOString(),
    granted_by: approvers(votes),
  };
}

/** The id of the standing approval an approval grants (also its events' correlation id). */
export function standingIdOf(approvalId: string): string {
  return deriveId(approvalId, 'standing');
}
