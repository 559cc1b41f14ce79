import type { Principal } from '@warden/identity';
import type { CardDecision } from './domain/approval-blocks';

/**
 * What Slack and the dashboard need from the approvals engine (`ApprovalService`), bound with
 * `useExisting` in their modules: voting always goes through the engine, which enforces quorum,
 * tier, roles and "already decided".
 */
export const APPROVALS = Symbol('APPROVALS');

export type VoteChannel = 'rest' | 'slack' | 'dashboard' | 'cli';
export type ApprovalStatus = 'pending' | 'granted' | 'rejected' | 'expired';

export interface ApprovalVote {
  operator: string;
  vote: 'approve' | 'reject';
  comment?: string;
  at: string;
  channel?: VoteChannel;
}

export interface ApprovalView {
  id: string;
  run_id: string;
  tier: number;
  status: ApprovalStatus;
  required_votes: number;
  votes: ApprovalVote[];
  expires_at: string;
  created_at: string;
  agent: { id: string; role: string };
  session_id?: string;
  action: { tool: string; args: Record<string, unknown> };
  /** What a Slack card shows, and the rest of the decision as recorded. */
  decision: CardDecision & { [k: string]: unknown };
  reasons?: string[];
  trace_id?: string;
}

export interface VoteInput {
  approvalId: string;
  principal: Principal;
  vote: 'approve' | 'reject';
  comment?: string;
  channel: VoteChannel;
  standing?: { scope: 'session' | 'agent'; ttl_seconds: number };
}

export interface ApprovalsPort {
  vote(i: VoteInput): Promise<ApprovalView>;
  get(id: string): Promise<ApprovalView | undefined>;
  list(f: { status?: ApprovalStatus; limit?: number; cursor?: string }): Promise<{
    items: ApprovalView[];
    next_cursor?: string;
  }>;
}
