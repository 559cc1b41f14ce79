import type { Action, AnyEnvelope, Decision, EventData, EventType, ExecutionGrant } from '@warden/contracts';
import { isTerminal } from '@warden/contracts';
import { DomainError, deriveId, sha256Canonical } from '@warden/kernel';
import { reportRefusal, type RunState } from './run.state';
import { CLIENT_EXECUTOR_RULE, clientExecutionRefusal, grantFor, type ClientExecutorRule } from './execution';

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

/** A grant for the client to execute the run's action: the projection signs it and emits `execution_granted`. */
export interface GrantExecution {
  kind: 'grant';
  grant: ExecutionGrant;
}

export type Reaction = EmitEvent | DispatchRun | GrantExecution;

export interface ReactContext {
  now: Date;
  /** Whether the decision's signature verifies (computed outside, keeps this pure). */
  decisionAuthentic: (decision: Decision) => boolean;
  /** How long an approval stays open for a tier (the decision's `constraints.expires_in_seconds` wins). */
  approvalTtlMs: number | ((tier: number) => number);
  /** Votes needed per tier. */
  requiredVotes: (tier: number) => number;
  /** The subject a role's workers take commands on. */
  workerSubject: (role: string) => string;
  /** Bring your own executor: who may execute in the client, and for how long a grant holds. */
  clientExecutor?: ClientExecutorRule;
}

/** Client executors are off unless the orchestrator's config says otherwise. */
const NO_CLIENT_EXECUTORS: ClientExecutorRule = { maxTier: 0, grantTtlMs: 0 };

function emit<T extends EventType>(type: T, data: EventData<T>): EmitEvent<T> {
  return { kind: 'event', type, data };
}

/** Seconds the policy bundle gives the approval, when it says. */
function bundleTtlSeconds(d: Decision): number | undefined {
  const v = d.constraints.expires_in_seconds;
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 ? v : undefined;
}

/** The action a queued run executes: an enforced compute runs the policy's rewrite. */
export function executedAction(state: RunState, decision: Decision): Action {
  const rewrite = decision.mode === 'enforce' && decision.outcome === 'compute';
  return rewrite && decision.rewritten_action ? decision.rewritten_action : state.action!;
}

/**
 * Why a grant does not bind to this run's action and decision (or undefined when it does): the hash of
 * the action, the policy digest and the tier the approvers saw must be the run's.
 */
export function grantMismatch(state: RunState, grant: EventData<'approval_granted'>): string | undefined {
  const d = state.decision!;
  if (!grant.action_hash || !grant.policy_digest) return 'the grant names no action hash or policy digest';
  if (grant.action_hash !== sha256Canonical(state.action)) return "the approved action is not the run's action";
  if (grant.policy_digest !== d.policy_digest) return 'the approval was given under another policy digest';
  if (grant.tier !== undefined && grant.tier < d.tier)
    return `approved at tier ${grant.tier}, the run needs tier ${d.tier}`;
  return quorumMismatch(state, grant);
}

/**
 * Why the votes a grant counts do not make a quorum (or undefined when they do): each must be a
 * signed approve vote this run has seen, by the operator the grant names, from distinct operators,
 * none of them the agent that proposed the action, and at least as many as the approval required.
 */
export function quorumMismatch(state: RunState, grant: EventData<'approval_granted'>): string | undefined {
  const approval = state.approval;
  if (!approval) return 'the run has no approval';
  const counted = grant.votes ?? [];
  if (!counted.length) return 'the grant counts no votes';
  const seen = new Map((approval.votes ?? []).map((v) => [v.id, v]));
  const operators = new Set<string>();
  for (const c of counted) {
    const v = seen.get(c.vote_id);
    if (!v || v.vote !== 'approve' || !v.operatorId || v.operatorId !== c.operator_id) {
      return `vote ${c.vote_id} is not a recorded approve vote by operator ${c.operator_id}`;
    }
    if (v.operatorId === state.agent?.id) return `operator ${v.operatorId} cannot approve its own proposal`;
    operators.add(v.operatorId);
  }
  if (operators.size < approval.requiredVotes) {
    return `quorum not met: ${operators.size} distinct approver(s), ${approval.requiredVotes} required`;
  }
  return undefined;
}

/** Votes the policy bundle asks for, when it says. */
function bundleVotes(d: Decision): number | undefined {
  const v = d.constraints.required_votes;
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 ? v : undefined;
}

/** Release the run: to the client that executes it (a grant), or to its role's workers (queue). */
function release(
  state: RunState,
  decision: Decision,
  ctx: ReactContext,
  causeId: string,
  approvalId?: string,
): Reaction[] {
  if (state.executor !== 'client') return queue(state, decision, ctx, approvalId);
  const rule = ctx.clientExecutor ?? NO_CLIENT_EXECUTORS;
  const refusal = clientExecutionRefusal(decision, rule);
  if (refusal) return [emit('run_denied', { reasons: [refusal], rule_ids: [CLIENT_EXECUTOR_RULE] })];
  return [
    { kind: 'grant', grant: grantFor(state, decision, { now: ctx.now, causeId, ttlMs: rule.grantTtlMs, approvalId }) },
  ];
}

/** Queue the run: the `run_queued` fact plus the command to the role's workers. */
function queue(state: RunState, decision: Decision, ctx: ReactContext, approvalId?: string): Reaction[] {
  // enforced compute runs the policy's rewrite, never the action as proposed
  const action = executedAction(state, decision);
  const role = state.agent!.role;
  return [
    emit('run_queued', { role, subject: ctx.workerSubject(role), action }),
    { kind: 'dispatch', role, action, decision, approvalId },
  ];
}

/**
 * Run events the process manager only records: {@link react} never acts on them, whatever the run's
 * state. The ordered pass may hold them a moment to write several in one transaction; any other event
 * (one it acts on, or a terminal one a client waits for) hands the held batch over at once.
 */
export const RECORDED_ONLY: readonly EventType[] = [
  'task_received',
  'run_queued',
  'run_started',
  'approval_requested',
  'approval_vote',
  'approval_escalated',
  'execution_granted',
];

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
      // a forged decision changes nothing (anyone on the bus could otherwise end runs): the projection
      // records it in the timeline and the run keeps waiting for the authentic one
      if (!ctx.decisionAuthentic(d)) return [];
      // observe mode records what enforce would do, and lets the action as proposed proceed
      if (d.mode === 'observe') return release(state, d, ctx, env.id);
      if (d.outcome === 'compute' && !d.rewritten_action) {
        return [
          emit('run_denied', { reasons: ['compute decision carries no rewritten action'], rule_ids: d.rule_ids }),
        ];
      }
      if (d.outcome === 'allow' || d.outcome === 'compute') return release(state, d, ctx, env.id);
      if (d.outcome === 'deny') return [emit('run_denied', { reasons: d.reasons, rule_ids: d.rule_ids })];
      // a client execution the approvers could never release is refused now, not after their votes
      const refusal =
        state.executor === 'client' ? clientExecutionRefusal(d, ctx.clientExecutor ?? NO_CLIENT_EXECUTORS) : undefined;
      if (refusal) return [emit('run_denied', { reasons: [refusal], rule_ids: [CLIENT_EXECUTOR_RULE] })];
      const ttlMs =
        (bundleTtlSeconds(d) ?? 0) * 1000 ||
        (typeof ctx.approvalTtlMs === 'number' ? ctx.approvalTtlMs : ctx.approvalTtlMs(d.tier));
      return [
        emit('approval_requested', {
          approval_id: deriveId(env.id, 'approval'),
          tier: d.tier,
          required_votes: bundleVotes(d) ?? ctx.requiredVotes(d.tier),
          expires_at: new Date(ctx.now.getTime() + ttlMs).toISOString(),
          agent: state.agent!,
          session_id: state.sessionId,
          action: state.action!,
          decision: d,
          action_hash: sha256Canonical(state.action),
          ttl_seconds: Math.max(1, Math.round(ttlMs / 1000)),
        }),
      ];
    }
    case 'approval_granted': {
      if (state.status !== 'awaiting_approval' || state.approval?.id !== env.data.approval_id || !state.decision)
        return [];
      const mismatch = grantMismatch(state, env.data);
      if (mismatch)
        return [
          emit('run_denied', {
            reasons: [`approval voided: ${mismatch}`],
            rule_ids: ['orchestrator.approval-binding'],
          }),
        ];
      return release(state, state.decision, ctx, env.id, env.data.approval_id);
    }
    case 'execution_reported': {
      // settle the client's report once: another grant, another action, a second or late report change nothing
      if (reportRefusal(state, env)) return [];
      const o = env.data.outcome;
      const result = {
        output: o.output ?? null,
        output_hash: o.output_hash,
        ...(o.truncated ? { truncated: true } : {}),
        ...(o.error ? { error: o.error } : {}),
      };
      const data = { grant_id: env.data.grant_id, result, reason: 'reported' as const, report_id: env.id };
      return [emit(o.error ? 'execution_failed' : 'execution_succeeded', data)];
    }
    case 'run_succeeded':
    case 'run_failed': {
      // act now, review later: a finished run whose decision asked for review becomes a review item
      const d = state.decision;
      if (!d?.review || (state.status !== 'queued' && state.status !== 'running')) return [];
      return [
        emit('review_requested', {
          review_id: deriveId(state.runId, 'review'),
          action: executedAction(state, d),
          result: env.data.result,
          agent: state.agent!,
          ...(state.sessionId ? { session_id: state.sessionId } : {}),
          outcome: env.type === 'run_succeeded' ? 'succeeded' : 'failed',
          rule_ids: d.rule_ids,
        }),
      ];
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
