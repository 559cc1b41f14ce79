/** The claim row of a run, as far as deciding what to do with a command needs it. */
export interface ClaimState {
  status: 'started' | 'succeeded' | 'failed';
  attempt: number;
  /** When its tool began; null if claimed but never begun (absent: taken as begun). */
  began_at?: Date | null;
}

/**
 * What to do with an authentic command, given the run's claim (none if never claimed):
 * - `execute`: first time; claim, then run.
 * - `republish`: already finished; publish the same completion event again, run nothing.
 * - `reexecute`: a worker stopped mid-run and the tool is idempotent; run it again.
 * - `outcome_unknown`: a worker stopped mid-run of a non-idempotent tool; finish failed, never run again.
 * A claim whose tool never began (its worker died while it waited for a slot) is handed back: it runs
 * as the next attempt whatever the tool (`reexecute` with `unstarted`), as nothing of it happened.
 * Callers hold the run's execution lock, so a `started` claim means its worker is gone.
 */
export type ExecutionPlan =
  | { kind: 'execute'; attempt: 1 }
  | { kind: 'republish' }
  | { kind: 'reexecute'; attempt: number; unstarted?: true }
  | { kind: 'outcome_unknown' };

export function planExecution(claim: ClaimState | undefined, toolIdempotent: boolean): ExecutionPlan {
  if (!claim) return { kind: 'execute', attempt: 1 };
  if (claim.status !== 'started') return { kind: 'republish' };
  if (claim.began_at === null) return { kind: 'reexecute', attempt: claim.attempt + 1, unstarted: true };
  return toolIdempotent ? { kind: 'reexecute', attempt: claim.attempt + 1 } : { kind: 'outcome_unknown' };
}
