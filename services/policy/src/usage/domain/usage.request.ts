import type { TaskSubmission } from '@warden/contracts';
import { canonicalJson, sha256Hex } from '@warden/kernel';
import { fetchedHost, type LoadedBundle, type RateLimit } from '@warden/policy-language';

/** Counter lifetime when the bundle sets no budget (sessions and agents are still counted). */
export const DEFAULT_WINDOW_SECONDS = 86400;

/** What the store needs to know about one proposal. */
export interface StateRequest {
  runId: string;
  sessionId: string | null;
  agentId: string;
  tool: string;
  tokens: number;
  costUsd: number;
  /** The host the proposal fetches ("" if none), for session history. */
  host: string;
  /** Hash of (tool, args): what loop detection counts failures and repeats of. */
  fingerprint: string;
  rate: RateLimit | null;
  /** Count the agent's calls/tokens/cost (the bundle has an agent budget). */
  trackAgent: boolean;
  sessionTtl: number;
  agentTtl: number;
}

/** What the state store needs for one proposal under `policy`. */
export function stateRequest(
  policy: LoadedBundle,
  runId: string,
  s: Pick<TaskSubmission, 'agent' | 'session_id' | 'action' | 'usage'>,
): StateRequest {
  const { bundle, plan } = policy;
  return {
    runId,
    sessionId: s.session_id ?? null,
    agentId: s.agent.id,
    tool: s.action.tool,
    tokens: s.usage?.tokens ?? 0,
    costUsd: s.usage?.cost_usd ?? 0,
    host: fetchedHost(bundle, s.action.args),
    fingerprint: sha256Hex(canonicalJson({ tool: s.action.tool, args: s.action.args })).slice(0, 32),
    rate: plan.rateLimitFor(s.agent.id, s.action.tool),
    trackAgent: bundle.budgets.agent !== undefined,
    sessionTtl: bundle.budgets.session?.window_seconds ?? DEFAULT_WINDOW_SECONDS,
    agentTtl: bundle.budgets.agent?.window_seconds ?? DEFAULT_WINDOW_SECONDS,
  };
}
