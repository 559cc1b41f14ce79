import type { RunResult } from '@warden/contracts';
import { DomainError, TransientError } from '@warden/kernel';
import type { ExecutionPlan } from './execution-plan';
import { failureResult } from './result';

/** What settling needs of an authentic command message. */
export interface CommandMessage {
  commandId: string;
  /** Stream sequence of the message that carried it. */
  seq: number;
  /**
   * Set when the command is authentic but may not run here (`COMMAND.TOOL_NOT_IN_ROLE`): it never
   * executes, but it may end a run nobody claimed (see {@link decideRun}).
   */
  refusal?: DomainError;
}

/** What settling needs of a run's claim row. */
export interface ClaimOwner {
  command_id: string;
  /** Stream sequence of the claiming message (null for claims from before it was kept). */
  stream_seq: string | null;
}

/**
 * What one batch does with a run, decided from its plan, its claim and the first of its commands:
 * - `refuse`: nothing is claimed, run or published; the lead settles with `error` (a replay, or a
 *   tool outside the role for a run that another command owns).
 * - `claim`: first time: claim, publish `run_started`, run the tool, record and publish its result.
 * - `end_refused`: an authentic command for a tool outside the role, run never claimed: claim it
 *   already finished with `result`, publish its `run_failed`, then settle the lead with `refusal`.
 * - `republish`: the claiming message again (a redelivery) for a finished run: publish the same
 *   completion, run nothing; the lead then settles with `refusal` if it carries one.
 * - `take_over`: the previous worker is gone; run again as `attempt` (`unstarted`: its tool never
 *   began, so this is a hand-back, whatever the tool).
 * - `outcome_unknown`: the previous worker is gone mid-execution of a non-idempotent tool: publish
 *   `run_started` again and end the run failed `outcome_unknown` without running anything.
 */
export type RunDecision =
  | { kind: 'refuse'; error: DomainError }
  | { kind: 'claim' }
  | { kind: 'end_refused'; result: RunResult; refusal: DomainError }
  | { kind: 'republish'; refusal?: DomainError }
  | { kind: 'take_over'; attempt: number; unstarted: boolean }
  | { kind: 'outcome_unknown' };

/** The result a run refused for a tool outside the worker's role ends with. */
export function notInRoleResult(refusal: DomainError): RunResult {
  return failureResult({ code: 'TOOL.NOT_IN_ROLE', message: refusal.message });
}

/** A command for a run that another message already executed: refused, nothing runs or is republished. */
export function replayRefusal(runId: string): DomainError {
  return new DomainError('COMMAND.REPLAYED', `run ${runId} was already executed by another command message`, {
    run_id: runId,
  });
}

/** True if `msg` is the message that claimed the run (old claims without a sequence: same command id). */
export function isClaimingMessage(claim: ClaimOwner, msg: CommandMessage): boolean {
  return claim.stream_seq !== null ? String(claim.stream_seq) === String(msg.seq) : claim.command_id === msg.commandId;
}

/**
 * Decides what a batch does with one run (see {@link RunDecision}). A finished run answers only the
 * message that claimed it; anything else is a replay. A tool outside the role only ever ends a run
 * nobody claimed, or republishes its own ending.
 * @example decideRun(runId, { kind: 'execute', attempt: 1 }, undefined, { commandId, seq: 7 }) // { kind: 'claim' }
 */
export function decideRun(
  runId: string,
  plan: ExecutionPlan,
  claim: ClaimOwner | undefined,
  lead: CommandMessage,
): RunDecision {
  const replay = plan.kind === 'republish' && claim !== undefined && !isClaimingMessage(claim, lead);
  const { refusal } = lead;
  switch (plan.kind) {
    case 'execute':
      return refusal ? { kind: 'end_refused', result: notInRoleResult(refusal), refusal } : { kind: 'claim' };
    case 'republish':
      if (replay) return { kind: 'refuse', error: refusal ?? replayRefusal(runId) };
      return refusal ? { kind: 'republish', refusal } : { kind: 'republish' };
    case 'reexecute':
      if (refusal) return { kind: 'refuse', error: refusal };
      return { kind: 'take_over', attempt: plan.attempt, unstarted: plan.unstarted === true };
    case 'outcome_unknown':
      return refusal ? { kind: 'refuse', error: refusal } : { kind: 'outcome_unknown' };
  }
}

/** The refusal a run's lead settles with once its run is done (its own error, if any, comes first). */
export function refusalOf(decision: RunDecision): DomainError | undefined {
  return decision.kind === 'end_refused' || decision.kind === 'republish'
    ? decision.refusal
    : decision.kind === 'refuse'
      ? decision.error
      : undefined;
}

/**
 * How the lead of a run settles: its run's error (retried, busy, refused), else its refusal, else
 * `undefined` (done: acked).
 */
export function settleLead(decision: RunDecision, error: unknown): unknown {
  return error ?? refusalOf(decision);
}

/**
 * How another command for the same run in the same batch settles (a follower never executes):
 * - the lead must be retried (a non-domain error): retried with it;
 * - not the message that claimed the run (or no claim): its own refusal, else a replay;
 * - the claiming message behind a lead that was refused: retried alone, to settle on its own;
 * - else (the claiming message, the run done): its own refusal if any, else done.
 */
export function settleFollower(
  runId: string,
  leadError: unknown,
  claim: ClaimOwner | undefined,
  follower: CommandMessage,
): unknown {
  if (leadError !== undefined && !(leadError instanceof DomainError)) return leadError;
  if (!claim || !isClaimingMessage(claim, follower)) return follower.refusal ?? replayRefusal(runId);
  if (leadError !== undefined) return new TransientError(`run ${runId}: retry alone`);
  return follower.refusal;
}

/** The status a result is recorded with. */
export function resultStatus(result: RunResult): 'succeeded' | 'failed' {
  return result.error ? 'failed' : 'succeeded';
}

/** The `outcome` label `warden_workers_executions_total` counts a published completion under. */
export function completionOutcome(decision: RunDecision, status: 'started' | 'succeeded' | 'failed'): string {
  if (decision.kind === 'end_refused') return 'tool_not_in_role';
  if (decision.kind === 'outcome_unknown') return 'outcome_unknown';
  return status;
}

/** A run's recorded ending, as far as its completion event needs it. */
export interface Ending {
  run_id: string;
  status: 'started' | 'succeeded' | 'failed';
  result: RunResult | null;
}

/** The event that announces a finished run: `run_succeeded` or `run_failed`, carrying its result. */
export function completionEvent(row: Ending): { type: 'run_succeeded' | 'run_failed'; result: RunResult } {
  if (!row.result) throw new Error(`run ${row.run_id} has no recorded result to publish`);
  return { type: row.status === 'succeeded' ? 'run_succeeded' : 'run_failed', result: row.result };
}
