import type { Decision, EventData, ExecutionGrant } from '@warden/contracts';
import { WORKER_CONSTRAINTS } from '@warden/contracts';
import { deriveId, sha256Canonical } from '@warden/kernel';
import type { RunGrant, RunState } from './run.state';

/**
 * Bring your own executor, the orchestrator's half. A run proposed with `executor: "client"` is never
 * dispatched to a worker: once it may run (allowed, or escalated and granted) the orchestrator issues
 * one signed {@link ExecutionGrant} (`execution_granted`, the run goes `running`); the client executes
 * and reports through ingest (`execution_reported`); the orchestrator settles the run once
 * (`execution_succeeded` / `execution_failed`). A grant left unreported past its deadline ends the run
 * `failed` with `outcome_unknown` (the grant sweeper). Default deny: see {@link clientExecutionRefusal}.
 */

/** The orchestrator's rule for client executors (from its config). */
export interface ClientExecutorRule {
  /** Highest decision tier a client may execute (0: client executors are off). */
  maxTier: number;
  /** How long a grant stays valid. */
  grantTtlMs: number;
}

/** The rule id a refused client execution is denied under. */
export const CLIENT_EXECUTOR_RULE = 'orchestrator.client-executor';

/**
 * Why this decision may not be executed by the client (or undefined when it may). Default deny: a
 * client executor is trusted with the action as approved and nothing more, so
 * - tiers above `maxTier` (default 2: production deploys, secrets rotation, billing at tier 3) run on
 *   Warden's workers only;
 * - an enforced `compute` decision (the policy rewrote the action) runs on the workers only;
 * - a decision carrying a constraint only a worker enforces (`resolved_paths`, `timeout_seconds`,
 *   `allowed_hosts` …) runs on the workers only: the client would not enforce it.
 * @example clientExecutionRefusal({ tier: 3, … }, { maxTier: 2, grantTtlMs }) // 'tier 3 actions run on …'
 */
export function clientExecutionRefusal(d: Decision, rule: ClientExecutorRule): string | undefined {
  if (rule.maxTier < 1) return 'client executors are disabled on this deployment';
  if (d.tier > rule.maxTier)
    return `tier ${d.tier} actions run on Warden's workers only (client executors are allowed up to tier ${rule.maxTier})`;
  if (d.mode === 'enforce' && d.outcome === 'compute')
    return "a rewritten (compute) action runs on Warden's workers only";
  const enforced = Object.keys(d.constraints).filter((k) => k === 'resolved_paths' || WORKER_CONSTRAINTS.includes(k));
  if (enforced.length)
    return `the decision carries constraints only a worker enforces (${enforced.join(', ')}); it runs on Warden's workers only`;
  return undefined;
}

/**
 * The grant for a run that may now execute in the client: bound to the exact action (its hash), the
 * decision's policy digest and the approval; its id is derived from the releasing event, so a
 * redelivered release issues the same grant.
 * @example grantFor(state, decision, { now, causeId: env.id, ttlMs: 300_000 })
 */
export function grantFor(
  state: RunState,
  d: Decision,
  opts: { now: Date; causeId: string; ttlMs: number; approvalId?: string },
): ExecutionGrant {
  return {
    grant_id: deriveId(opts.causeId, 'grant'),
    run_id: state.runId,
    agent: state.agent!,
    action: state.action!,
    action_hash: sha256Canonical(state.action),
    policy_digest: d.policy_digest,
    ...(opts.approvalId ? { approval_id: opts.approvalId } : {}),
    issued_at: opts.now.toISOString(),
    expires_at: new Date(opts.now.getTime() + opts.ttlMs).toISOString(),
    ...(state.traceId ? { trace_id: state.traceId } : {}),
  };
}

/**
 * How a run ends when its grant passed its deadline unreported (the grant sweeper publishes it):
 * `execution_failed` with `outcome_unknown`, since the client may or may not have run the tool. The id
 * is derived from the grant, so every replica's sweep yields the same event and the broker keeps one.
 * @example const { id, data } = grantExpiry(state.grant!)
 */
export function grantExpiry(grant: Pick<RunGrant, 'id' | 'expiresAt'>): {
  id: string;
  data: EventData<'execution_failed'>;
} {
  const message = `the execution grant expired at ${grant.expiresAt} without a report`;
  return {
    id: deriveId(grant.id, 'expired'),
    data: {
      grant_id: grant.id,
      reason: 'expired',
      result: {
        output: null,
        output_hash: sha256Canonical(null),
        error: { code: 'GRANT.EXPIRED', message },
        outcome_unknown: true,
      },
    },
  };
}
