import {
  decisionSigningPayload,
  executeCommandSigningPayload,
  grantSigningPayload,
  type Decision,
  type ExecuteCommand,
  type ExecutionGrant,
} from '@warden/contracts';
import { signCanonical, verifyCanonical, type SigningKeys } from '@warden/kernel';
import type { RunState } from './domain/run.state';
import type { UnsignedExecuteCommand } from './domain/run.dispatch';

/**
 * The orchestrator's keys at the shell: decisions verify with the policy's key; worker commands and
 * client grants are signed with the orchestrator's own (workers and ingest check them).
 * @example signer.decisionAuthentic(state, decision); signer.signCommand(executeCommandFor(…))
 */
export class RunSigner {
  constructor(private readonly keys: { commands: SigningKeys; decisions: SigningKeys }) {}

  /** Whether the policy signed this decision for this run's action. */
  decisionAuthentic(state: RunState, d: Decision): boolean {
    return (
      !!d.signature &&
      verifyCanonical(this.keys.decisions, decisionSigningPayload(state.runId, state.action, d), d.signature)
    );
  }

  signGrant(grant: ExecutionGrant): string {
    return signCanonical(this.keys.commands, grantSigningPayload(grant));
  }

  signCommand(unsigned: UnsignedExecuteCommand): ExecuteCommand {
    return { ...unsigned, signature: signCanonical(this.keys.commands, executeCommandSigningPayload(unsigned)) };
  }
}
