import type { EventData, McpToolFacts, TaskSubmission } from '@warden/contracts';
import { policyInput, type PolicyInput, type StandingGrant } from '@warden/policy-language';
import type { StoredState } from '../../usage/domain/usage.snapshot';

/** A submission the policy judges (a `task_received`'s, or a dry run's). */
export type Judged = Pick<TaskSubmission, 'agent' | 'session_id' | 'action' | 'usage'>;

/**
 * Active standing approvals for this agent and tool, as evaluated: only the evaluated fields
 * (`session_id` only when set), sorted by id so the input (and its hash) does not depend on the
 * directory's order.
 * @example standingGrantsFor(submission, directory.standingApprovals(now))
 */
export function standingGrantsFor(
  submission: Judged,
  approvals: readonly EventData<'standing_approval_granted'>[],
): StandingGrant[] {
  return approvals
    .filter((g) => g.agent_id === submission.agent.id && g.tool === submission.action.tool)
    .map((g) => {
      const grant: StandingGrant = {
        id: g.standing_id,
        scope: g.scope,
        agent_id: g.agent_id,
        tool: g.tool,
        max_tier: g.max_tier,
      };
      if (g.session_id !== undefined) grant.session_id = g.session_id;
      return grant;
    })
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * What a proposal is judged on before its paths are resolved: the submission, the usage state read
 * for it, the standing approvals that may cover it and, for an upstream MCP server's tool, the signed
 * catalog's facts about it (`mcp`; absent otherwise).
 * @example judgedInput(submission, state, standingGrantsFor(submission, approvals), catalog.facts(tool))
 */
export function judgedInput(
  submission: Judged,
  state: StoredState,
  standing: StandingGrant[],
  mcp: McpToolFacts | undefined,
): PolicyInput {
  const input = policyInput(submission, { ...state, standing });
  return mcp ? { ...input, mcp } : input;
}
