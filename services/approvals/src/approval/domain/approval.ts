import type { Decision } from '@warden/contracts';
import { DomainError, ValidationError, deriveId } from '@warden/kernel';

export type VoteChannel = 'rest' | 'slack' | 'dashboard' | 'cli';
export type ApprovalStatus = 'pending' | 'granted' | 'rejected' | 'expired';
export type VoteKind = 'approve' | 'reject';

export interface StandingRequest {
  scope: 'session' | 'agent';
  ttl_seconds: number;
}

/** One operator's vote as recorded. */
export interface VoteRecord {
  operatorId: string;
  operator: string;
  vote: VoteKind;
  comment?: string;
  channel?: VoteChannel;
  standing?: StandingRequest;
  at: string;
}

/** What voting needs to know about an approval. */
export interface ApprovalSnapshot {
  id: string;
  tier: number;
  requiredVotes: number;
  status: ApprovalStatus;
  expiresAt: string;
  agentId: string;
  sessionId?: string;
  /** The run's terminal status when a run event (a cancellation, …) ended it while the approval was open. */
  runEnded?: string;
  votes: VoteRecord[];
}

/**
 * Who votes, as the credential says (the fields of `@warden/runtime`'s `Principal` a vote reads; a
 * Principal is one). Kept here so the domain needs no runtime.
 */
export interface Voter {
  kind: 'bootstrap' | 'operator' | 'api_key';
  id: string;
  name: string;
  roles: readonly string[];
  maxTier: number;
}

/** Roles that may vote: `approver` and any role above it (`admin`), as `hasRole(p, 'approver')` ranks them. */
const VOTING_ROLES: readonly string[] = ['approver', 'admin'];

/** Whether the voter holds `approver` or a higher role. */
export function mayVote(v: Voter): boolean {
  return v.roles.some((r) => VOTING_ROLES.includes(r));
}

export interface VoteCommand {
  principal: Voter;
  vote: VoteKind;
  comment?: string;
  channel: VoteChannel;
  standing?: StandingRequest;
}

/** What a vote leads to: still waiting, enough approvals (pending the policy re-check), or rejected. */
export type VoteOutcome = 'pending' | 'quorum' | 'rejected';

/** Longest standing approval: 30 days. */
export const MAX_STANDING_TTL_SECONDS = 30 * 24 * 3600;

/**
 * Decides one vote. Pure: time comes in as `now`. Identity comes only from the principal (the credential).
 * @throws DomainError APPROVAL.ALREADY_DECIDED, APPROVAL.ALREADY_VOTED, AUTH.FORBIDDEN, VALIDATION.FAILED
 * @example decideVote(snapshot, { principal, vote: 'approve', channel: 'rest' }, new Date())
 */
export function decideVote(
  s: ApprovalSnapshot,
  cmd: VoteCommand,
  now: Date,
): { vote: VoteRecord; outcome: VoteOutcome } {
  if (s.status !== 'pending') throw new DomainError('APPROVAL.ALREADY_DECIDED', `approval is already ${s.status}`);
  if (s.runEnded)
    throw new DomainError('APPROVAL.ALREADY_DECIDED', `the run has ended (${s.runEnded}); this approval is closed`, {
      status: s.runEnded,
    });
  if (Date.parse(s.expiresAt) <= now.getTime())
    throw new DomainError('APPROVAL.ALREADY_DECIDED', 'approval has expired', { status: 'expired' });
  // the quorum is in: the grant is being completed (policy re-check), no vote can change it now
  if (approvers(s.votes).length >= s.requiredVotes)
    throw new DomainError('APPROVAL.ALREADY_DECIDED', 'approval has the votes it needs; the grant is being completed');
  const p = cmd.principal;
  if (p.kind === 'api_key') throw new DomainError('AUTH.FORBIDDEN', 'API keys cannot vote; use an operator token');
  if (!mayVote(p)) throw new DomainError('AUTH.FORBIDDEN', 'requires role approver');
  if (p.maxTier < s.tier)
    throw new DomainError('AUTH.FORBIDDEN', `operator max_tier ${p.maxTier} does not cover tier ${s.tier}`);
  if (p.id === s.agentId || p.name === s.agentId)
    throw new DomainError('AUTH.FORBIDDEN', 'the requesting agent cannot vote on its own action');
  if (s.votes.some((v) => v.operatorId === p.id))
    throw new DomainError('APPROVAL.ALREADY_VOTED', 'this operator has already voted on this approval');
  if (cmd.standing) validateStanding(cmd.standing, cmd.vote, s);
  const vote: VoteRecord = {
    operatorId: p.id,
    operator: p.name,
    vote: cmd.vote,
    ...(cmd.comment ? { comment: cmd.comment } : {}),
    channel: cmd.channel,
    ...(cmd.standing ? { standing: cmd.standing } : {}),
    at: now.toISOString(),
  };
  if (cmd.vote === 'reject') return { vote, outcome: 'rejected' };
  return { vote, outcome: approvers([...s.votes, vote]).length >= s.requiredVotes ? 'quorum' : 'pending' };
}

function validateStanding(st: StandingRequest, vote: VoteKind, s: ApprovalSnapshot): void {
  const errors = [];
  if (vote !== 'approve') errors.push({ path: 'standing', message: 'only an approval can grant a standing approval' });
  if (!Number.isInteger(st.ttl_seconds) || st.ttl_seconds < 1 || st.ttl_seconds > MAX_STANDING_TTL_SECONDS)
    errors.push({ path: 'standing.ttl_seconds', message: `must be an integer 1..${MAX_STANDING_TTL_SECONDS}` });
  if (st.scope === 'session' && !s.sessionId)
    errors.push({ path: 'standing.scope', message: 'the proposal has no session_id; use scope "agent"' });
  if (errors.length) throw new ValidationError(errors);
}

/** Names of the distinct operators (by id) who approved. */
export function approvers(votes: VoteRecord[]): string[] {
  const byId = new Map<string, string>();
  for (const v of votes) if (v.vote === 'approve' && !byId.has(v.operatorId)) byId.set(v.operatorId, v.operator);
  return [...byId.values()];
}

/**
 * The approve votes a grant counts, one per operator, each named by its `approval_vote` event id
 * (derived from approval and operator, as the vote was published), so the orchestrator can check
 * the quorum against the signed votes it has seen.
 */
export function countedVotes(
  approvalId: string,
  votes: VoteRecord[],
): { vote_id: string; operator_id: string; operator: string }[] {
  const byId = new Map<string, { vote_id: string; operator_id: string; operator: string }>();
  for (const v of votes) {
    if (v.vote !== 'approve' || byId.has(v.operatorId)) continue;
    byId.set(v.operatorId, {
      vote_id: voteEventId(approvalId, v.operatorId),
      operator_id: v.operatorId,
      operator: v.operator,
    });
  }
  return [...byId.values()];
}

/** The id of an operator's `approval_vote` event on an approval (one vote per operator). */
export function voteEventId(approvalId: string, operatorId: string): string {
  return deriveId(approvalId, 'vote', operatorId);
}

/** The standing approval asked for by the approving votes, if any: the narrowest scope and shortest time. */
export function standingFrom(votes: VoteRecord[]): StandingRequest | undefined {
  const asked = votes.filter((v) => v.vote === 'approve' && v.standing).map((v) => v.standing!);
  if (asked.length === 0) return undefined;
  return {
    scope: asked.some((a) => a.scope === 'session') ? 'session' : 'agent',
    ttl_seconds: Math.min(...asked.map((a) => a.ttl_seconds)),
  };
}

/** What the policy's re-evaluation says about a granted approval. */
export type Recheck = { ok: true } | { ok: false; reason: string };

/**
 * Whether a grant still stands under the policy now active: a (enforced) deny or a higher tier voids it.
 * @example recheckVerdict(2, decision) // { ok: false, reason: 'policy now denies: ...' }
 */
export function recheckVerdict(approvedTier: number, now: Decision): Recheck {
  if (now.mode === 'observe') return { ok: true };
  if (now.outcome === 'deny')
    return { ok: false, reason: `policy now denies this action: ${now.reasons.join('; ') || now.rule_ids.join(', ')}` };
  if (now.outcome === 'escalate' && now.tier > approvedTier)
    return { ok: false, reason: `policy now requires tier ${now.tier} (approved at tier ${approvedTier})` };
  return { ok: true };
}

/** When the escalation chain is due: `fraction` of the way from request to expiry. */
export function escalationDueAt(requestedAt: string, expiresAt: string, fraction: number): Date {
  const from = Date.parse(requestedAt);
  return new Date(from + (Date.parse(expiresAt) - from) * fraction);
}
