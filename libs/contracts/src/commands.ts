import { z } from 'zod';
import { Action, Sha256, TraceId, Uuid } from './common';
import { Decision } from './decision';

/**
 * What the orchestrator sends to a role's workers on `warden.cmd.workers.<role>.execute`.
 * Workers execute it only if `signature` verifies over {@link executeCommandSigningPayload}.
 */
export const ExecuteCommand = z.object({
  command_id: Uuid,
  run_id: Uuid,
  role: z.string(),
  action: Action,
  decision: Decision,
  decision_hash: Sha256,
  approval_id: Uuid.optional(),
  /** Who proposed the action (the run's agent) and in which session: for the execution's trace span. */
  agent_id: z.string().optional(),
  session_id: z.string().optional(),
  trace_id: TraceId,
  causation_id: z.string(),
  issued_at: z.iso.datetime({ offset: true }),
  signature: z.string().min(1),
});
export type ExecuteCommand = z.infer<typeof ExecuteCommand>;

/**
 * Exactly what the orchestrator signs and workers verify: (run_id, role, action, decision digest,
 * approval), and the agent and session when the command names them.
 */
export function executeCommandSigningPayload(cmd: Omit<ExecuteCommand, 'signature'>): unknown {
  return {
    run_id: cmd.run_id,
    role: cmd.role,
    action: cmd.action,
    decision_hash: cmd.decision_hash,
    approval_id: cmd.approval_id ?? null,
    ...(cmd.agent_id !== undefined ? { agent_id: cmd.agent_id } : {}),
    ...(cmd.session_id !== undefined ? { session_id: cmd.session_id } : {}),
  };
}

/**
 * Exactly what the policy signs (into `decision.signature`) and the orchestrator verifies before it
 * acts on a `decision_made`: the run, the action as proposed, and the decision without its signature.
 */
export function decisionSigningPayload(
  runId: string,
  action: unknown,
  decision: Omit<Decision, 'signature'> & { signature?: string },
): unknown {
  const { signature: _omit, ...unsigned } = decision;
  void _omit;
  return { run_id: runId, action, decision: unsigned };
}
