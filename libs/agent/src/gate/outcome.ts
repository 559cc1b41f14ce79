/*
 * What became of one gated tool call, in a shape shared by the reference agent and the framework
 * adapters, and the text a model reads about it. A refusal is a result the model can reason about
 * (why, which rule), never an exception that ends the conversation.
 */

/** Run statuses that mean "did not run as proposed" (plus `invalid`: nothing was proposed). */
export type RefusalStatus = 'denied' | 'rejected' | 'expired' | 'cancelled' | 'failed' | 'invalid';

/** The outcome of one call through Warden. */
export type GateOutcome =
  | {
      kind: 'executed';
      runId: string;
      /** The tool's JSON result (what the worker, or your own executor, returned). */
      output: unknown;
      /** Set when policy rewrote the action to a safer one before it ran. */
      rewrittenTo?: { tool: string; args: Record<string, unknown> };
      /** Set when a human approved the call first. */
      approvalId?: string;
    }
  | {
      kind: 'refused';
      /** null when nothing was proposed (invalid arguments, a tool the agent was not offered). */
      runId: string | null;
      status: RefusalStatus;
      /** Why, in words (policy reasons, an approver's comment, the tool's error, field errors). */
      reasons: string[];
      /** The policy rules that decided (empty when not a policy decision). */
      ruleIds: string[];
      approvalId?: string;
    }
  | {
      kind: 'pending_approval';
      runId: string;
      /** The approval a human must decide (undefined only if Warden has not named it yet). */
      approvalId?: string;
      tier?: number;
    };

const NOT_EXECUTED = 'The call was NOT executed.';

/**
 * The tool result a model reads: JSON with `status` first, then what happened and why. Refusals say
 * that nothing ran and name the reasons and rule ids, so the model can change course.
 * @example toolResultText({ kind: 'refused', runId: 'r1', status: 'denied', reasons: ['reading secrets is never allowed'], ruleIds: ['secrets-read'] })
 *   // '{"status":"denied","executed":false,"reasons":["reading secrets is never allowed"],"rule_ids":["secrets-read"],...}'
 */
export function toolResultText(o: GateOutcome): string {
  return JSON.stringify(toolResultJson(o));
}

/**
 * {@link toolResultText} as an object (what the framework adapters return as a refused tool's result).
 * @example toolResultJson({ kind: 'pending_approval', runId: 'r1', approvalId: 'a1' }).status // 'pending_approval'
 */
export function toolResultJson(o: GateOutcome): Record<string, unknown> {
  switch (o.kind) {
    case 'executed':
      return {
        status: 'succeeded',
        executed: true,
        output: o.output ?? null,
        ...(o.rewrittenTo
          ? {
              rewritten_to: o.rewrittenTo,
              note: `Warden policy rewrote this call to ${o.rewrittenTo.tool} before it ran.`,
            }
          : {}),
        run_id: o.runId,
      };
    case 'refused':
      return {
        status: o.status,
        executed: false,
        reasons: o.reasons,
        rule_ids: o.ruleIds,
        run_id: o.runId,
        ...(o.approvalId ? { approval_id: o.approvalId } : {}),
        note: `${NOT_EXECUTED} ${REFUSAL_HINT[o.status]}`,
      };
    case 'pending_approval':
      return {
        status: 'pending_approval',
        executed: false,
        approval_id: o.approvalId ?? null,
        run_id: o.runId,
        note: `${NOT_EXECUTED} It waits for a human approval (pending approval ${o.approvalId ?? o.runId}); it runs only if approved.`,
      };
  }
}

const REFUSAL_HINT: Record<RefusalStatus, string> = {
  denied: 'Warden policy denied it; do not retry it unchanged.',
  rejected: 'A human approver rejected it; do not retry it unchanged.',
  expired: 'Nobody approved it in time.',
  cancelled: 'An operator cancelled it.',
  failed: 'It was allowed but the tool failed; see reasons.',
  invalid: 'The arguments were invalid; fix the fields named in reasons.',
};

/**
 * A short human line for logs: `denied (secrets-read): reading secrets is never allowed`.
 * @example outcomeSummary({ kind: 'executed', runId: 'r1', output: {} }) // 'succeeded (run r1)'
 */
export function outcomeSummary(o: GateOutcome): string {
  switch (o.kind) {
    case 'executed':
      return `succeeded (run ${o.runId})${o.rewrittenTo ? ` as ${o.rewrittenTo.tool}` : ''}`;
    case 'refused':
      return `${o.status}${o.ruleIds.length ? ` (${o.ruleIds.join(', ')})` : ''}: ${o.reasons.join('; ') || 'no reason given'}`;
    case 'pending_approval':
      return `pending approval ${o.approvalId ?? '(not yet named)'} (run ${o.runId})`;
  }
}
