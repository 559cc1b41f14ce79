import { planExecution, type ClaimState, type ExecutionPlan } from './execution-plan';

/** What batch planning needs of an authentic command. */
export interface PlannedCommand {
  runId: string;
  tool: string;
}

/** An existing claim, keyed by run. */
export interface ExistingClaim extends ClaimState {
  tool: string;
}

/**
 * What one batch does for one run: the first of its commands in the batch (`lead`) is planned
 * against the run's claim; the others (`followers`: redeliveries, or other commands for the same run)
 * never execute and settle with the lead's outcome.
 */
export interface RunPlan<C extends PlannedCommand = PlannedCommand> {
  runId: string;
  lead: C;
  followers: C[];
  plan: ExecutionPlan;
}

/** The key a run is grouped and locked by: uuids compare case-insensitively. */
export function runKey(runId: string): string {
  return runId.toLowerCase();
}

/**
 * Plans a batch of authentic commands, all of whose runs the caller holds locked: one plan per run,
 * in order of first appearance, so a run is executed at most once per batch whatever it receives.
 * A claimed run is planned on the claimed tool's idempotency, never on a later command's.
 * @example planBatch(cmds, new Map(), (tool) => tool === 'fs.read_file')
 */
export function planBatch<C extends PlannedCommand>(
  cmds: readonly C[],
  claims: ReadonlyMap<string, ExistingClaim>,
  idempotent: (tool: string) => boolean,
): RunPlan<C>[] {
  const byRun = new Map<string, RunPlan<C>>();
  for (const cmd of cmds) {
    const key = runKey(cmd.runId);
    const seen = byRun.get(key);
    if (seen) {
      seen.followers.push(cmd);
      continue;
    }
    const claim = claims.get(key);
    byRun.set(key, {
      runId: key,
      lead: cmd,
      followers: [],
      plan: planExecution(claim, idempotent(claim ? claim.tool : cmd.tool)),
    });
  }
  return [...byRun.values()];
}
