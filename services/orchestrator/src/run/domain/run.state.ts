import type { Action, Agent, AnyEnvelope, Decision, Envelope, RunResult, RunStatus } from '@warden/contracts';
import { isTerminal, nextStatus } from '@warden/contracts';

/** What the orchestrator knows about a run: the fold of its events. */
export interface RunState {
  runId: string;
  /** `none` until task_received has been seen. */
  status: RunStatus | 'none';
  agent?: Agent;
  sessionId?: string;
  action?: Action;
  traceId?: string;
  decision?: Decision;
  decisionEventId?: string;
  approval?: RunApproval;
  result?: RunResult;
  /** Who executes (absent: the workers); `client` runs hold a {@link RunGrant} once released. */
  executor?: 'worker' | 'client';
  grant?: RunGrant;
  createdAt?: string;
  updatedAt?: string;
}

/** The grant a client-executed run holds, as folded from its events. */
export interface RunGrant {
  id: string;
  actionHash: string;
  expiresAt: string;
  /** The `execution_reported` event that settled it, once one did. */
  reportId?: string;
}

export interface RunApproval {
  id: string;
  status: 'pending' | 'granted' | 'rejected' | 'expired';
  tier: number;
  requiredVotes: number;
  expiresAt: string;
  requestEventId: string;
  operators: string[];
  /** The signed `approval_vote` events seen for this approval (what a grant must count). */
  votes?: RecordedVote[];
}

export interface RecordedVote {
  id: string;
  operatorId?: string;
  operator: string;
  vote: 'approve' | 'reject';
}

export function initialState(runId: string): RunState {
  return { runId, status: 'none' };
}

/**
 * Applies one event to a run. Pure; `occurred_at` (not the clock) stamps `updatedAt`, so replaying
 * the stream rebuilds identical rows. The status moves only as the contracts' run status machine
 * allows (`nextStatus`); once terminal, no event changes it.
 */
export function evolve(state: RunState, env: AnyEnvelope): RunState {
  const s: RunState = { ...state, updatedAt: env.occurred_at };
  const terminal = isTerminal(state.status);
  const status = nextStatus(state.status, env.type);
  const moved = status !== state.status;
  switch (env.type) {
    case 'task_received': {
      if (!moved) return state; // a second task_received for the same run is ignored
      const sub = env.data.submission;
      return {
        ...s,
        status,
        ...(sub.executor === 'client' ? { executor: 'client' as const } : {}),
        agent: sub.agent,
        sessionId: sub.session_id,
        action: sub.action,
        traceId: env.trace_id,
        createdAt: env.occurred_at,
      };
    }
    case 'decision_made':
      if (state.decision || terminal) return state;
      return { ...s, decision: env.data, decisionEventId: env.id };
    case 'approval_requested':
      if (!moved) return state;
      return {
        ...s,
        status,
        approval: {
          id: env.data.approval_id,
          status: 'pending',
          tier: env.data.tier,
          requiredVotes: env.data.required_votes,
          expiresAt: env.data.expires_at,
          requestEventId: env.id,
          operators: [],
        },
      };
    case 'approval_vote': {
      if (state.status !== 'awaiting_approval' || state.approval?.id !== env.data.approval_id) return state;
      const votes = state.approval.votes ?? [];
      if (votes.some((v) => v.id === env.id)) return state;
      const vote: RecordedVote = {
        id: env.id,
        ...(env.data.operator_id ? { operatorId: env.data.operator_id } : {}),
        operator: env.data.operator,
        vote: env.data.vote,
      };
      return { ...s, approval: { ...state.approval, votes: [...votes, vote] } };
    }
    case 'approval_granted':
    case 'approval_rejected':
    case 'approval_expired': {
      if (state.status !== 'awaiting_approval' || !state.approval || state.approval.id !== env.data.approval_id)
        return state;
      const closed = { granted: 'granted', rejected: 'rejected', expired: 'expired' } as const;
      const approvalStatus = closed[env.type.slice('approval_'.length) as keyof typeof closed];
      const approval = { ...state.approval, status: approvalStatus, operators: env.data.operators };
      return { ...s, approval, status };
    }
    case 'run_succeeded':
    case 'run_failed':
      return moved ? { ...s, status, result: env.data.result } : state;
    case 'execution_granted':
    case 'execution_reported':
    case 'execution_succeeded':
    case 'execution_failed':
      return evolveExecution(state, env, status);
    case 'run_queued':
    case 'run_started':
    case 'run_denied':
    case 'run_cancelled':
      return moved ? { ...s, status } : state;
    default:
      return state; // votes, budget notices: part of the timeline, not of the status
  }
}

/**
 * Why a report does not settle this run (or undefined when it does): the run must hold an unsettled
 * grant, and the report must name that grant and its action hash, before the grant's deadline. Used by
 * the fold and the process manager alike, so both agree on what a report did.
 * @example reportRefusal(state, env) // 'the grant was already reported'
 */
export function reportRefusal(state: RunState, env: Envelope<'execution_reported'>): string | undefined {
  const g = state.grant;
  if (!g || state.executor !== 'client') return 'the run holds no execution grant';
  if (env.data.grant_id !== g.id) return 'the report names another grant';
  if (g.reportId) return 'the grant was already reported';
  if (state.status !== 'running') return `the run is ${state.status}`;
  if (env.data.action_hash !== g.actionHash) return "the reported action is not the grant's action";
  if (Date.parse(env.occurred_at) > Date.parse(g.expiresAt)) return 'the grant had expired';
  return undefined;
}

/**
 * Folds the bring-your-own-executor events into the run; `status` is what the run status machine says.
 * @example evolveExecution(state, env, nextStatus(state.status, env.type))
 */
export function evolveExecution(
  state: RunState,
  env: Envelope<'execution_granted' | 'execution_reported' | 'execution_succeeded' | 'execution_failed'>,
  status: RunState['status'],
): RunState {
  const moved = status !== state.status;
  const s: RunState = { ...state, updatedAt: env.occurred_at };
  switch (env.type) {
    case 'execution_granted': {
      const g = (env as Envelope<'execution_granted'>).data.grant;
      if (!moved || state.executor !== 'client') return state;
      return { ...s, status, grant: { id: g.grant_id, actionHash: g.action_hash, expiresAt: g.expires_at } };
    }
    case 'execution_reported': {
      const e = env as Envelope<'execution_reported'>;
      if (reportRefusal(state, e)) return state;
      return { ...s, grant: { ...state.grant!, reportId: e.id } };
    }
    case 'execution_succeeded':
    case 'execution_failed': {
      const data = (env as Envelope<'execution_succeeded'>).data;
      if (!moved || state.grant?.id !== data.grant_id) return state;
      return { ...s, status, result: data.result };
    }
  }
}
