import { ExecuteCommand, executeCommandSigningPayload, toFieldErrors, type Action } from '@warden/contracts';
import {
  DomainError,
  ValidationError,
  canonicalJson,
  sha256Canonical,
  verifyCanonical,
  type SigningKeys,
} from '@warden/kernel';

/** Why a command was refused; bounded, so it doubles as the metric label. */
export const REFUSAL_REASONS = [
  'invalid',
  'forged',
  'decision_tampered',
  'role_mismatch',
  'not_permitted',
  'action_mismatch',
  'tool_not_in_role',
  'replayed',
] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

const CODE_TO_REASON: Record<string, RefusalReason> = {
  'VALIDATION.FAILED': 'invalid',
  'COMMAND.FORGED': 'forged',
  'COMMAND.DECISION_TAMPERED': 'decision_tampered',
  'COMMAND.ROLE_MISMATCH': 'role_mismatch',
  'COMMAND.NOT_PERMITTED': 'not_permitted',
  'COMMAND.ACTION_MISMATCH': 'action_mismatch',
  'COMMAND.TOOL_NOT_IN_ROLE': 'tool_not_in_role',
  'COMMAND.REPLAYED': 'replayed',
};

/** The refusal reason for an error thrown by {@link authenticate}. */
export function refusalReason(err: DomainError): RefusalReason {
  return CODE_TO_REASON[err.code] ?? 'invalid';
}

/** Parses a command body; a {@link ValidationError} with field paths when it is not an ExecuteCommand. */
export function parseExecuteCommand(raw: unknown): ExecuteCommand {
  const r = ExecuteCommand.safeParse(raw);
  if (!r.success) throw new ValidationError(toFieldErrors(r.error));
  return r.data;
}

/**
 * Decides whether a parsed command may run, before anything else happens: the signature must verify
 * over (run_id, role, action, decision digest, approval), the digest must match the decision it
 * carries, the command must have arrived on its own role's subject, and the decision must permit
 * execution of exactly this action. Returns the action to execute; throws a {@link DomainError}
 * (`COMMAND.*`) otherwise.
 * @example const action = authenticate(keys, cmd, 'dev')
 */
export function authenticate(keys: SigningKeys, cmd: ExecuteCommand, subjectRole: string): Action {
  const { signature, ...unsigned } = cmd;
  if (!verifyCanonical(keys, executeCommandSigningPayload(unsigned), signature)) {
    throw new DomainError('COMMAND.FORGED', 'signature does not verify with the configured signing key', {
      run_id: cmd.run_id,
    });
  }
  if (sha256Canonical(cmd.decision) !== cmd.decision_hash) {
    throw new DomainError('COMMAND.DECISION_TAMPERED', 'decision_hash does not match the decision carried', {
      run_id: cmd.run_id,
    });
  }
  if (cmd.role !== subjectRole) {
    throw new DomainError(
      'COMMAND.ROLE_MISMATCH',
      `command for role "${cmd.role}" arrived on the "${subjectRole}" subject`,
      {
        run_id: cmd.run_id,
      },
    );
  }
  const d = cmd.decision;
  // observe mode records what enforce would do but lets the action proceed as allowed
  if (d.mode === 'observe') return cmd.action;
  switch (d.outcome) {
    case 'allow':
      return cmd.action;
    case 'escalate':
      if (!cmd.approval_id)
        throw new DomainError('COMMAND.NOT_PERMITTED', 'an escalated decision needs an approval_id', {
          run_id: cmd.run_id,
        });
      return cmd.action;
    case 'compute':
      if (!d.rewritten_action) {
        throw new DomainError('COMMAND.ACTION_MISMATCH', 'a compute decision without rewritten_action', {
          run_id: cmd.run_id,
        });
      }
      if (canonicalJson(d.rewritten_action) !== canonicalJson(cmd.action)) {
        throw new DomainError('COMMAND.ACTION_MISMATCH', "action differs from the decision's rewritten_action", {
          run_id: cmd.run_id,
        });
      }
      return d.rewritten_action;
    case 'deny':
      throw new DomainError('COMMAND.NOT_PERMITTED', 'the decision denies this action', { run_id: cmd.run_id });
  }
}
