import type { AnyEnvelope, ExecuteCommand } from '@warden/contracts';
import { deriveId, sha256Canonical } from '@warden/kernel';
import type { DispatchRun } from './run.decide';
import type { RunState } from './run.state';

/** A worker command before the orchestrator signs it. */
export type UnsignedExecuteCommand = Omit<ExecuteCommand, 'signature'>;

/**
 * The command that hands a run to its role's workers, as `react` asked ({@link DispatchRun}): its id is
 * derived from the releasing event (a replay issues the same command, the broker drops the copy), it
 * carries the decision and its hash, the approval, who proposed it and the trace. The shell signs it.
 * @example executeCommandFor(state, env, { kind: 'dispatch', role: 'fs', action, decision }, now)
 */
export function executeCommandFor(
  state: RunState,
  cause: AnyEnvelope,
  dispatch: DispatchRun,
  now: Date,
): UnsignedExecuteCommand {
  return {
    command_id: deriveId(cause.id, 'execute'),
    run_id: state.runId,
    role: dispatch.role,
    action: dispatch.action,
    decision: dispatch.decision,
    decision_hash: sha256Canonical(dispatch.decision),
    approval_id: dispatch.approvalId,
    ...(state.agent ? { agent_id: state.agent.id } : {}),
    ...(state.sessionId ? { session_id: state.sessionId } : {}),
    trace_id: cause.trace_id,
    causation_id: cause.id,
    issued_at: now.toISOString(),
  };
}
