import type { Action, Agent } from '@warden/contracts';

/** One item of a plan as the APIs (REST, Slack, dashboard) show it. */
export interface PlanItemView {
  index: number;
  run_id: string;
  action: Action;
  /** `sha256:<hex>` of the item's canonical action: what its approval (if any) is bound to. */
  action_hash: string;
  intent?: string;
  /** The run's status (`received`, `awaiting_approval`, `queued`, …, `denied`, `succeeded`). */
  status: string;
  /** The decision's outcome when known (`allow`, `deny`, `escalate`, `compute`). */
  outcome?: string;
  /** Why it ended (a denial's reasons, a cancellation), when it did. */
  reason?: string;
  /** The item's own approval, when its decision escalated. */
  approval?: {
    id: string;
    status: 'pending' | 'granted' | 'rejected' | 'expired';
    tier: number;
    required_votes: number;
    votes: { operator: string; operator_id: string; vote: 'approve' | 'reject'; at: string }[];
    expires_at: string;
    reasons: string[];
  };
}

/** A plan: its items in order, and whether any still waits for a decision. */
export interface PlanView {
  id: string;
  agent: Agent;
  session_id?: string;
  /** How many items the plan has; `items` may hold fewer while they are still arriving. */
  count: number;
  intent?: string;
  /** `pending` while any item's approval is pending, else `decided`. */
  status: 'pending' | 'decided';
  created_at: string;
  items: PlanItemView[];
}
