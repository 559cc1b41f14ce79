import type { Action, Decision, Envelope, EventData } from '@warden/contracts';
import { canonicalJson, deriveId, type SigningKeys } from '@warden/kernel';
import { budgetCrossings, evaluate, type LoadedBundle, type PolicyInput, type Verdict } from '@warden/policy-language';
import { signDecision } from './decision.signature';

/** The received task a decision answers: its event id (what every event's id derives from), trace and submission. */
export type ReceivedTask = Pick<Envelope<'task_received'>, 'id' | 'trace_id' | 'data'>;

/** An event the decision emits, with its deterministic id; the shell wraps it in an envelope. */
export type DecisionEvent =
  | { type: 'decision_made'; id: string; data: Decision }
  | { type: 'budget_exceeded'; id: string; data: EventData<'budget_exceeded'> };

export interface AssembledDecision {
  /** The signed decision (also the `decision_made` event's data). */
  decision: Decision;
  /** `decision_made` first, then one `budget_exceeded` per budget (and scope) this run takes over its limit first. */
  events: DecisionEvent[];
}

/**
 * The decision on one received task under `policy`, given everything it is judged on (`input`: the
 * submission, the session/agent usage and rate-limit answer read before it, loop counts, standing
 * approvals, resolved paths): evaluated (outcome, tier, rule_ids and reasons, constraints, a rewrite,
 * input_hash, the bundle's version and digest), stamped with the task's trace and `now`, signed with
 * the policy's key, and the events it emits. Pure: the same arguments give the same bytes, and the
 * event ids derive from the task_received id, so a redelivered task yields the same events (the
 * broker drops the copies).
 * @example const { decision, events } = assembleDecision(policy, received, input, clock.now(), keys)
 */
export function assembleDecision(
  policy: LoadedBundle,
  received: ReceivedTask,
  input: PolicyInput,
  now: Date,
  keys: SigningKeys,
): AssembledDecision {
  const submission = received.data.submission;
  const runId = submission.run_id;
  const canonicalAction = canonicalJson(input.action);
  // a fresh object: completed in place rather than copied twice
  const decision: Decision = Object.assign(evaluate(policy, input, now, canonicalAction) as Verdict, {
    trace_id: received.trace_id,
  });
  decision.signature = signDecision(
    keys,
    runId,
    submission.action,
    // the input's action is the submission's (tool, args): the same canonical JSON
    sameAction(submission.action, input.action) ? canonicalAction : canonicalJson(submission.action),
    decision,
  );
  const events: DecisionEvent[] = [
    { type: 'decision_made', id: deriveId(received.id, 'decision_made'), data: decision },
  ];
  for (const c of budgetCrossings(policy, input)) {
    events.push({
      type: 'budget_exceeded',
      // one per budget and scope: several may be crossed by the same run
      id:
        c.scope === 'session'
          ? deriveId(received.id, 'budget_exceeded', c.budget)
          : deriveId(received.id, 'budget_exceeded', `agent:${c.budget}`),
      data: {
        scope: c.scope,
        ...(submission.session_id ? { session_id: submission.session_id } : {}),
        agent_id: submission.agent.id,
        budget: c.budget,
        used: c.used,
        limit: c.limit,
      },
    });
  }
  return { decision, events };
}

function sameAction(a: Action, b: PolicyInput['action']): boolean {
  return a.tool === b.tool && a.args === b.args && Object.keys(a).length === 2;
}
