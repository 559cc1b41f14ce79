import { executeCommandSigningPayload, type Action, type Decision, type ExecuteCommand } from '@warden/contracts';
import { newId, newTraceId, sha256Canonical, signCanonical, type SigningKeys } from '@warden/kernel';

/** A decision that permits execution (allow, tier 1, enforce) unless overridden. */
export function testDecision(over: Partial<Decision> = {}): Decision {
  return {
    outcome: 'allow',
    tier: 1,
    mode: 'enforce',
    rule_ids: ['fs-inside-workspace'],
    reasons: ['allowed by test'],
    constraints: {},
    policy_version: 'test-1',
    policy_digest: sha256Canonical({ bundle: 'test' }),
    input_hash: sha256Canonical({ input: 'test' }),
    trace_id: newTraceId(),
    evaluated_at: new Date().toISOString(),
    ...over,
  };
}

/**
 * A valid, signed ExecuteCommand as the orchestrator would send it. `over` is applied BEFORE
 * signing (so the result still verifies); tamper with the returned object to forge one.
 */
export function signedCommand(
  keys: SigningKeys,
  action: Action,
  over: Partial<Omit<ExecuteCommand, 'signature' | 'decision_hash'>> = {},
): ExecuteCommand {
  const decision = over.decision ?? testDecision();
  const unsigned: Omit<ExecuteCommand, 'signature'> = {
    command_id: newId(),
    run_id: newId(),
    role: 'dev',
    action,
    trace_id: decision.trace_id,
    causation_id: newId(),
    issued_at: new Date().toISOString(),
    ...over,
    decision,
    decision_hash: sha256Canonical(decision),
  };
  return { ...unsigned, signature: signCanonical(keys, executeCommandSigningPayload(unsigned)) };
}

/** Re-signs a command after changing it (for commands that must verify but fail a later check). */
export function resign(keys: SigningKeys, cmd: ExecuteCommand): ExecuteCommand {
  const { signature: _old, ...unsigned } = cmd;
  void _old;
  return { ...unsigned, signature: signCanonical(keys, executeCommandSigningPayload(unsigned)) };
}
