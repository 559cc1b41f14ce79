import type { Action, AnyEnvelope, Decision, EventData, EventType } from '@warden/contracts';
import { isTerminal } from '@warden/contracts';
import { DomainError, deriveId } from '@warden/kernel';
import type { RunState } from './run.state';

/** An event the orchestrator will publish in reaction. */
export interface EmitEvent<T extends EventType = EventType> {
  kind: 'event';
  type: T;
  data: EventData<T>;
}

/** A run to hand to its role's workers. */
export interface DispatchRun {
  kind: 'dispatch';
  role: string;
  action: Action;
  decision: Decision;
  approvalId?: string;
}

export type Reaction = EmitEvent | DispatchRun;

export interface ReactContext {
  now: Date;
  /** Whether the decision's signature verifies (computed outside, keeps this pure). */
  decisionAuthentic: (decision: Decision) => boolean;
  approvalTtlMs: number;
  /** Votes needed per tier. */
  requiredVotes: (tier: number) => number;
  /** The subject a role's workers take commands on. */
  workerSubject: (role: string) => string;
}

function emit<T extends EventType>(type: T, data: EventData<T>): EmitEvent<T> {
  return { kind: 'event', type, data };
}

/** Votes the policy bundle asks for, when it says. */
function bundleVotes(d: Decision): number | undefined {
  const v = d.constraints.required_votes;
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 ? v : undefined;
}

/** Queue the run: the `run_queued` fact plus the command to the role's workers. */
function queue(state: RunState, decision: Decision, ctx: ReactContext, approvalId?: string): Reaction[] {
  // enforced compute runs the policy's rewrite, never the action as proposed
  const rewrite = decision.mode === 'enforce' && decision.outcome === 'compute';
  const action = rewrite && decision.rewritten_action ? decision.rewritten_action : state.action!;
  const role = state.agent!.role;
  return [
    emit('run_queued', { role, subject: ctx.workerSubject(role), action }),
    { kind: 'dispatch', role, action, decision, approvalId },
  ];
}

/**
 * The process manager: given the run as it was before `env`, what the orchestrator does about it.
 * Pure and deterministic (time comes from ctx, ids are derived from the triggering event), so it is
 * unit-tested as given/when/then.
 */
export function react(state: RunState, env: AnyEnvelope, ctx: ReactContext): Reaction[] {
  if (state.status === 'none' || isTerminal(state.status)) return [];
  switch (env.type) {
    case 'decision_made': {
      if (state.status !== 'received' || state.decision) return [];
      const d = env.data;
      if (!ctx.decisionAuthentic(d)) {
        return [
          emit('run_denied', {
            reasons: ['decision signature does not verify; refusing to act on it'],
            rule_ids: ['orchestrator.decision-signature'],
          }),
        ];
      }
      // observe mode records what enforce would do, and lets the action as proposed proceed
      if (d.mode === 'observe') return queue(state, d, ctx);
      if (d.outcome === 'compute' && !d.rewritten_action) {
        return [
          emit('run_denied', { reasons: ['compute decision carries no rewritten action'], rule_ids: d.rule_ids }),
        ];
      }
      if (d.outcome === 'allow' || d.outcome === 'compute') return queue(state, d, ctx);
      if (d.outcome === 'deny') return [emit('run_denied', { reasons: d.reasons, rule_ids: d.rule_ids })];
      return [
        emit('approval_requested', {
          approval_id: deriveId(env.id, 'approval'),
          tier: d.tier,
          required_votes: bundleVotes(d) ?? ctx.requiredVotes(d.tier),
          expires_at: new Date(ctx.now.getTime() + ctx.approvalTtlMs).toISOString(),
          agent: state.agent!,
          session_id: state.sessionId,
          action: state.action!,
          decision: d,
        }),
      ];
    }
    case 'approval_granted': {
      if (state.status !== 'awaiting_approval' || state.approval?.id !== env.data.approval_id || !state.decision)
        return [];
      return queue(state, state.decision, ctx, env.data.approval_id);
    }
    default:
      return [];
  }
}

/**
 * Whether an operator may cancel the run now.
 * @throws DomainError RUN.NOT_FOUND / RUN.ALREADY_TERMINAL
 */
export function decideCancel(state: RunState | undefined): void {
  if (!state || state.status === 'none') throw new DomainError('RUN.NOT_FOUND', 'no such run');
  if (isTerminal(state.status)) throw new DomainError('RUN.ALREADY_TERMINAL', `run is already ${state.status}`);
}
