import type { AnyEnvelope } from '@warden/contracts';
import { evolve, reportRefusal, type RunState } from './run.state';

/** The note a forged decision is kept under in the run's timeline. */
export const FORGED_DECISION_NOTE = 'ignored: decision signature does not verify';

/** What one event does to its run and to the run's timeline. */
export interface TimelineStep {
  /** The run after the event. */
  after: RunState;
  /** Why the event is in the timeline but changed nothing (a forged decision, a report that settles nothing). */
  note?: string;
  /** Whether the run's row is written (a forged decision for a run never received writes none). */
  saveState: boolean;
}

/**
 * Folds one run event for the timeline. A forged decision (its signature did not verify; checked by
 * the shell) is kept out of the run's state and noted; a client's report that settles nothing
 * (another grant or action, a second or late report) is folded (it changes nothing) and noted.
 * Pure: the same events give the same rows on a rebuild.
 * @example foldTimeline(before, env, false) // { after: evolve(before, env), saveState: true }
 */
export function foldTimeline(before: RunState, env: AnyEnvelope, forged: boolean): TimelineStep {
  if (forged) return { after: before, note: FORGED_DECISION_NOTE, saveState: before.status !== 'none' };
  const refusal = env.type === 'execution_reported' ? reportRefusal(before, env) : undefined;
  return { after: evolve(before, env), ...(refusal ? { note: `ignored: ${refusal}` } : {}), saveState: true };
}
