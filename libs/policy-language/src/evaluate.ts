import type { Decision, McpToolFacts, TaskSubmission, Tier } from '@warden/contracts';
import { canonicalJson, sha256Hex } from '@warden/kernel';
import {
  BUILTIN_RULES,
  type Budget,
  type Condition,
  type LoadedBundle,
  type PolicyBundle,
  type ValueTest,
} from './bundle';
import { recipes, type JudgedAction } from './compute';
import { isUnderRoot, judgePaths, type ResolvedPaths } from './paths';
import { celMessage, hostOf, type BundlePlan, type CompiledRule } from './plan';
import { checkBudget, withBudget } from './bounded';

/**
 * Wall-clock budget of one decision. Regular expressions and globs are linear already; this bounds
 * everything else (a CEL comprehension over a large argument, a slow machine): past it the decision
 * denies (`engine-error`), failing closed.
 */
export const DECISION_BUDGET_MS = 250;

export { globMatches } from './plan';

/** Calls, tokens and cost counted for a session or an agent. */
export interface UsageCounters {
  calls: number;
  tokens: number;
  cost_usd: number;
}

/** A session's counters and history before the proposal being judged. */
export interface SessionState extends UsageCounters {
  /** Proposals per tool so far. */
  tools: Record<string, number>;
  /** Hosts of URLs the session has proposed to fetch (sorted). */
  hosts: string[];
}

/** A standing approval relevant to the proposal (matching agent and tool), as judged. */
export interface StandingGrant {
  id: string;
  scope: 'session' | 'agent';
  agent_id: string;
  session_id?: string;
  tool: string;
  max_tier: Tier;
}

/** The token bucket's answer for this proposal. */
export interface RateState {
  limit_id: string;
  limited: boolean;
}

/** Everything besides the submission that a decision depends on (read from Redis and the directory). */
export interface PolicyState {
  session: SessionState | null;
  agent: UsageCounters | null;
  rate: RateState | null;
  /** Earlier failures of this very action (tool + args) in the session. */
  failures: number;
  /** Earlier proposals of this very call (tool + args) in the session, whatever became of them. */
  repeats?: number;
  standing: StandingGrant[];
}

/**
 * Exactly what is judged, and hashed into `input_hash`: replaying the same input under the same
 * bundle digest gives the same outcome, rule_ids and reasons. Budget state, history, rate-limit
 * answer and standing approvals are part of it, so nothing evaluation reads comes from elsewhere.
 */
export interface PolicyInput {
  agent: { id: string; role: string };
  session_id: string | null;
  action: JudgedAction;
  usage: { tokens?: number; cost_usd?: number } | null;
  /** The session's counters and history before this run; null without a session. */
  session_usage: SessionState | null;
  /** The agent's counters before this run (all sessions). */
  agent_usage: UsageCounters | null;
  rate: RateState | null;
  failures: number;
  /** Earlier proposals of the same call in the session; absent when none (and in inputs recorded before it was counted). */
  repeats?: number;
  standing: StandingGrant[];
  /**
   * What the workspace showed for each normalised path argument (of the action, and of its rewrite)
   * when it was judged: symlinks resolved by the I/O layer before evaluation, so the rules see the
   * path the worker will touch and replay reads no disk. Absent in inputs recorded before paths were
   * resolved (and in bundle tests): the lexical path is then the real one.
   */
  paths?: ResolvedPaths;
  /**
   * For an upstream MCP tool (`<server>.<tool>` of a catalogued server): the signed catalog's facts
   * about it and its pin when judged, so replay reads no KV. Absent for every other tool.
   */
  mcp?: McpToolFacts;
}

/** A Decision before the run's trace id and the signature are attached. */
export type Verdict = Omit<Decision, 'trace_id' | 'signature'>;

export type BudgetName = 'max_calls' | 'max_tokens' | 'max_cost_usd';

/** A budget this run takes over its limit. */
export interface BudgetCrossing {
  scope: 'session' | 'agent';
  budget: BudgetName;
  used: number;
  limit: number;
}

const UNHASHED = `sha256:${'0'.repeat(64)}`;

const ZERO: UsageCounters = { calls: 0, tokens: 0, cost_usd: 0 };

/** An empty session (what a session's first proposal is judged on). */
export function emptySession(): SessionState {
  return { calls: 0, tokens: 0, cost_usd: 0, tools: {}, hosts: [] };
}

/**
 * The evaluated input of a submission, given the state before it. Counters given without the
 * newer fields (cost, history) are completed with zeros.
 * @example policyInput(submission, { session: { calls: 3, tokens: 120 } })
 */
export function policyInput(
  submission: Pick<TaskSubmission, 'agent' | 'action'> & Partial<Omit<TaskSubmission, 'agent' | 'action'>>,
  state: Partial<{
    [K in keyof PolicyState]: K extends 'session' ? Partial<SessionState> | null : PolicyState[K];
  }> = {},
): PolicyInput {
  const session = submission.session_id ? { ...emptySession(), ...(state.session ?? {}) } : null;
  return {
    agent: { id: submission.agent.id, role: submission.agent.role },
    session_id: submission.session_id ?? null,
    action: { tool: submission.action.tool, args: submission.action.args },
    usage: submission.usage ?? null,
    session_usage: session,
    agent_usage: state.agent ?? null,
    rate: state.rate ?? null,
    failures: state.failures ?? 0,
    ...(state.repeats ? { repeats: state.repeats } : {}),
    standing: state.standing ?? [],
  };
}

/**
 * Canonical JSON (RFC 8785) of a policy input, the text `input_hash` hashes. `action` sorts first
 * among the keys, so a caller that already holds the action's canonical JSON (the signer needs it
 * too) does not canonicalise the action twice.
 * @example canonicalInput(input) === canonicalJson(input)
 */
export function canonicalInput(input: PolicyInput, canonicalAction = canonicalJson(input.action)): string {
  const { action: _action, ...rest } = input;
  const tail = canonicalJson(rest);
  return `{"action":${canonicalAction},${tail.slice(1)}`;
}

/** Thrown inside evaluation when a rule's condition cannot be evaluated: the decision fails closed. */
class ConditionError extends Error {
  constructor(
    readonly ruleId: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Judges one proposal. Pure: no I/O, no clock but `now` (only stamped as evaluated_at). Order (see
 * docs/services/policy.md, "Evaluation order"):
 * 1. every path argument must stay inside the workspace (else deny `workspace-escape`);
 * 2. the rules naming the tool, deny rules first: the first deny whose selectors and conditions hold
 *    decides (deny overrides); else the most specific matching rule; none: deny `default-deny`;
 * 3. the agent's role must list the tool (else deny `role-tools`);
 * 4. compute rewrites the action (the rewrite must itself be allowed, else deny);
 * 5. a rule escalation covered by a standing approval is allowed (`standing:<id>`);
 * 6. loop detection, rate limits, then session and agent budgets may escalate or deny.
 * A condition that fails to evaluate denies (`engine-error`), naming the rule and the error; so does
 * a decision that runs past `budgetMs` ({@link DECISION_BUDGET_MS}).
 * @example const verdict = evaluate(policy, policyInput(submission, state), new Date())
 */
export function evaluate(
  policy: LoadedBundle,
  input: PolicyInput,
  now: Date,
  canonicalAction?: string,
  budgetMs = DECISION_BUDGET_MS,
): Verdict {
  const inputHash = sha256Hex(canonicalInput(input, canonicalAction));
  const base = {
    mode: policy.bundle.mode,
    policy_version: policy.bundle.version,
    policy_digest: policy.digest,
    input_hash: inputHash,
    evaluated_at: now.toISOString(),
  };
  try {
    const v = withBudget(budgetMs, () => judge(policy, input, inputHash, true));
    const verdict: Verdict = {
      ...base,
      mode: v.mode ?? base.mode,
      outcome: v.outcome,
      tier: v.tier,
      rule_ids: v.ruleIds,
      reasons: v.reasons,
      constraints: v.constraints,
    };
    const resolved = resolvedPathsOf(policy.bundle, input, v.rewritten ?? input.action);
    if (resolved) verdict.constraints = { ...verdict.constraints, resolved_paths: resolved };
    if (v.rewritten) verdict.rewritten_action = v.rewritten;
    if (v.review) verdict.review = true;
    return verdict;
  } catch (err) {
    const ruleIds: string[] = [BUILTIN_RULES.engineError];
    if (err instanceof ConditionError) ruleIds.push(err.ruleId);
    return {
      ...base,
      outcome: 'deny',
      tier: 1,
      rule_ids: ruleIds,
      reasons: [`policy engine error, failing closed: ${err instanceof Error ? err.message : String(err)}`],
      constraints: {},
    };
  }
}

/**
 * The paths the evaluation of `input` looks up that `input.paths` does not resolve yet: the action's,
 * and those of the rewrite a compute rule makes of it (known only by evaluating). The I/O layer
 * resolves them and evaluates again with every path resolved. Pure, like {@link evaluate}.
 * @example pathsToResolve(policy, { ...input, paths: {} }) // ['vlink/x']
 */
export function pathsToResolve(policy: LoadedBundle, input: PolicyInput): string[] {
  // the action's own paths first; a rewrite's only where a compute rule could make one
  const own = judgePaths(input.action.args, policy.bundle.workspace.path_args, input.paths ?? {}).unresolved;
  if (own.length) return [...new Set(own)];
  if (!policy.plan.rulesFor(input.action.tool).some((c) => c.rule.outcome === 'compute')) return [];
  const missing = new Set<string>();
  try {
    // the input hash only names a pull_request recipe's branch, never a path
    judge(policy, { ...input, paths: input.paths ?? {} }, UNHASHED, true, missing);
  } catch {
    // a condition that fails fails the real evaluation the same way; what it reached is collected
  }
  return [...missing];
}

/**
 * `constraints.resolved_paths` of a decision: each normalised path argument of the action that runs
 * → the real path it was judged as (the worker refuses to touch anything else). None without resolutions.
 */
function resolvedPathsOf(
  bundle: PolicyBundle,
  input: PolicyInput,
  action: JudgedAction,
): Record<string, string> | undefined {
  if (!input.paths) return undefined;
  const judged = judgePaths(action.args, bundle.workspace.path_args, input.paths).paths;
  if (!judged.length) return undefined;
  return Object.fromEntries(judged.map((p) => [p.path, p.real]));
}

interface Judgement {
  outcome: Verdict['outcome'];
  tier: Tier;
  ruleIds: string[];
  reasons: string[];
  constraints: Record<string, unknown>;
  mode?: 'enforce' | 'observe';
  rewritten?: JudgedAction;
  review?: boolean;
}

function denied(ruleIds: string[], reasons: string[], mode?: 'enforce' | 'observe'): Judgement {
  return { outcome: 'deny', tier: 1, ruleIds, reasons, constraints: {}, mode };
}

/**
 * `collect` (see {@link pathsToResolve}): paths without a resolution are gathered there and judged
 * as their lexical selves instead of denying, so the evaluation reaches a rewrite's paths too.
 */
function judge(
  policy: LoadedBundle,
  given: PolicyInput,
  inputHash: string,
  allowCompute: boolean,
  collect?: Set<string>,
): Judgement {
  const { bundle, plan } = policy;
  const { tool, args } = given.action;

  let input = given;
  let judged = judgePaths(args, bundle.workspace.path_args, input.paths);
  if (collect && judged.unresolved.length) {
    for (const p of judged.unresolved) collect.add(p);
    const lexical = Object.fromEntries(judged.unresolved.map((p) => [p, { real: p }]));
    input = { ...input, paths: { ...input.paths, ...lexical } };
    judged = judgePaths(args, bundle.workspace.path_args, input.paths);
  }
  if (judged.problems.length) {
    return denied(
      [BUILTIN_RULES.workspaceEscape],
      judged.problems.map((p) => `args.${p.arg} ${p.reason}`),
    );
  }
  const realOf = new Map(judged.paths.map((p) => [p.path, p.real]));

  const mcp = input.mcp?.server && tool === `${input.mcp.server}.${input.mcp.tool}` ? input.mcp : undefined;
  if (mcp) {
    // before any rule: a rule never makes an unpinned definition or another role's server callable
    const refused = mcpRefusal(mcp, input.agent.role);
    if (refused) return refused;
  }
  const candidates = plan.rulesFor(tool);
  let cel: Record<string, unknown> | undefined;
  const celContext = () => (cel ??= celContextOf(bundle, input));
  const found = candidates.find((c) => ruleMatches(c, input, bundle, plan, celContext));
  // an upstream tool no rule names gets its default from its (pinned) annotations
  const chosen = found ?? (mcp && !candidates.length ? mcpDefaultRule(mcp) : undefined);
  if (!chosen) {
    return denied(
      [BUILTIN_RULES.defaultDeny],
      [candidates.length ? `no rule allows ${tool} with these arguments` : `the policy does not name ${tool}`],
    );
  }
  const rule = chosen.rule;
  const mode = rule.mode;
  if (rule.outcome === 'deny') return denied([rule.id], [rule.reason], mode);

  // an upstream server's tools belong to its role (checked above), not to the bundle's role lists
  if (!mcp && !Object.prototype.hasOwnProperty.call(bundle.roles, input.agent.role)) {
    return denied([BUILTIN_RULES.roleTools], [`role ${input.agent.role} is not defined by the policy`], mode);
  }
  if (!mcp && !plan.roleAllows(input.agent.role, tool)) {
    return denied([BUILTIN_RULES.roleTools], [`role ${input.agent.role} may not use ${tool}`], mode);
  }

  const j: Judgement = {
    outcome: rule.outcome,
    tier: rule.tier,
    ruleIds: [rule.id],
    reasons: [rule.reason],
    constraints: rule.outcome === 'escalate' ? {} : { ...(rule.constraints ?? {}) },
    mode,
  };
  if (rule.review) j.review = true;

  if (rule.outcome === 'compute') {
    if (!allowCompute || !rule.compute) return denied([rule.id], [`${rule.reason}; a rewrite is not rewritten again`]);
    const made = recipes[rule.compute.recipe](input.action, rule.compute.with ?? {}, {
      agentId: input.agent.id,
      inputHash,
      pathArgs: bundle.workspace.path_args,
      realPath: (p) => realOf.get(p) ?? p,
    });
    if (typeof made === 'string') return denied([rule.id], [rule.reason, `cannot rewrite: ${made}`], mode);
    const sub = judge(policy, { ...input, action: made.action }, inputHash, false, collect);
    if (sub.outcome !== 'allow') {
      return denied(
        [rule.id, ...sub.ruleIds],
        [rule.reason, `the rewrite (${made.summary}) is not allowed as it is: ${sub.reasons.join('; ')}`],
        mode,
      );
    }
    j.rewritten = made.action;
    j.reasons.push(`rewritten: ${made.summary}`);
    j.ruleIds.push(...sub.ruleIds.filter((id) => id !== rule.id));
    j.constraints = { ...sub.constraints, ...j.constraints };
  }

  if (j.outcome === 'escalate') {
    const grant = standingFor(input, j.tier);
    if (grant) {
      j.outcome = 'allow';
      j.ruleIds.push(`standing:${grant.id}`);
      j.reasons.push(
        `standing approval ${grant.id} (${grant.scope} scope, up to tier ${grant.max_tier}) covers tier ${j.tier}`,
      );
      j.tier = 1;
    }
  }

  applyLimits(bundle, input, j);

  if (j.outcome === 'escalate') {
    const ruleEscalates = rule.outcome === 'escalate' && j.tier === rule.tier;
    j.constraints.required_votes =
      (ruleEscalates ? rule.required_votes : undefined) ??
      bundle.tiers[String(j.tier) as '1' | '2' | '3'].required_votes;
    if (rule.outcome === 'escalate' && rule.expires_in !== undefined)
      j.constraints.expires_in_seconds = rule.expires_in;
  }
  return j;
}

/**
 * Why an upstream tool may not be called at all: a definition that is not the pinned one
 * (`TOOL.DEFINITION_CHANGED`, a rug pull until an admin re-pins), a tool its server does not list,
 * or a server of another role (a role calls only its own servers' tools).
 */
function mcpRefusal(mcp: McpToolFacts, role: string): Judgement | undefined {
  const name = `${mcp.server}.${mcp.tool}`;
  if (mcp.digest === null)
    return denied([BUILTIN_RULES.defaultDeny], [`MCP server ${mcp.server} does not list a tool "${mcp.tool}"`]);
  if (mcp.pinned !== mcp.digest) {
    return denied(
      [BUILTIN_RULES.mcpDefinitionChanged],
      [
        mcp.pinned === null
          ? `TOOL.DEFINITION_CHANGED: ${name} was never pinned; an admin must pin server ${mcp.server}`
          : `TOOL.DEFINITION_CHANGED: ${name}'s definition changed since it was pinned (${mcp.pinned} → ${mcp.digest}); an admin must re-pin server ${mcp.server}`,
      ],
    );
  }
  if (mcp.server_role !== role)
    return denied(
      [BUILTIN_RULES.roleTools],
      [`role ${role} may not use ${name}: MCP server ${mcp.server} serves role ${mcp.server_role}`],
    );
  return undefined;
}

/**
 * The default of a pinned upstream tool no rule names. Annotations are the server's hints, never
 * trusted for more than this: read-only AND closed-world (and not destructive) → allow at tier 1;
 * anything else (destructive, open-world, unannotated) → escalate at tier 2. Name the tool in a
 * rule to decide otherwise.
 */
function mcpDefaultRule(mcp: McpToolFacts): { rule: CompiledRule['rule'] } {
  const a = mcp.annotations;
  const safe = a.readOnlyHint === true && a.openWorldHint === false && a.destructiveHint !== true;
  const name = `${mcp.server}.${mcp.tool}`;
  return {
    rule: safe
      ? {
          id: BUILTIN_RULES.mcpReadOnly,
          tools: [name],
          outcome: 'allow',
          tier: 1,
          reason: `${name} is pinned and annotated read-only and closed-world (upstream MCP default)`,
        }
      : {
          id: BUILTIN_RULES.mcpEscalate,
          tools: [name],
          outcome: 'escalate',
          tier: 2,
          reason: `${name} is an upstream MCP tool not annotated read-only and closed-world: a person decides (upstream MCP default)`,
        },
  } as { rule: CompiledRule['rule'] };
}

/** Loop detection, rate limits and budgets: they only ever make a decision stricter. */
function applyLimits(bundle: PolicyBundle, input: PolicyInput, j: Judgement): void {
  const escalate = (tier: Tier, ruleId: string, reason: string) => {
    if (j.outcome === 'deny') return;
    if (j.outcome !== 'escalate') {
      j.outcome = 'escalate';
      j.tier = tier;
      j.constraints = {};
      delete j.rewritten;
      delete j.review;
    } else j.tier = Math.max(j.tier, tier) as Tier;
    j.ruleIds.push(ruleId);
    j.reasons.push(reason);
  };
  const deny = (ruleId: string, reason: string) => {
    if (j.outcome !== 'deny') {
      j.outcome = 'deny';
      j.tier = 1;
      j.constraints = {};
      delete j.rewritten;
      delete j.review;
    }
    j.ruleIds.push(ruleId);
    j.reasons.push(reason);
  };

  if (bundle.loops && input.session_id && input.failures >= bundle.loops.max_failures) {
    escalate(
      bundle.loops.tier,
      BUILTIN_RULES.loop,
      `the same action already failed ${input.failures} times in this session (loop detection at ${bundle.loops.max_failures})`,
    );
  }
  const loops = bundle.loops;
  const repeats = input.repeats ?? 0;
  if (loops?.max_repeats !== undefined && input.session_id && repeats >= loops.max_repeats) {
    const call = `${input.action.tool} with these exact arguments`;
    if (loops.escalate_repeats !== undefined && repeats >= loops.escalate_repeats)
      escalate(
        loops.tier,
        BUILTIN_RULES.repeatedCall,
        `still looping: ${call} was already proposed ${repeats} times in this session (refused from ${loops.max_repeats}, escalates from ${loops.escalate_repeats}); a person decides whether it may go on`,
      );
    else
      deny(
        BUILTIN_RULES.repeatedCall,
        `looping: ${call} was already proposed ${repeats} times in this session (loop detection at ${loops.max_repeats}); change the arguments, use the result you have, or stop`,
      );
  }
  if (input.rate?.limited) {
    const limit = bundle.rate_limits.find((l) => l.id === input.rate!.limit_id);
    const id = `rate-limit:${input.rate.limit_id}`;
    const reason = `agent ${input.agent.id} is over its rate limit for ${input.action.tool}${limit ? ` (${limit.capacity} per ${limit.per} s)` : ''}`;
    if (limit?.outcome === 'escalate') escalate(limit.tier, id, reason);
    else deny(id, reason);
  }
  for (const scope of ['session', 'agent'] as const) {
    const budget = bundle.budgets[scope];
    const before = scope === 'session' ? input.session_usage : input.agent_usage;
    if (!budget || (scope === 'session' && !input.session_id)) continue;
    const ruleId = scope === 'session' ? BUILTIN_RULES.sessionBudget : BUILTIN_RULES.agentBudget;
    for (const c of budgetStates(budget, before ?? ZERO, input)) {
      if (c.over) {
        const reason =
          c.used > c.limit
            ? `${scope} over its ${c.budget} budget (${fmt(c.used)} of ${fmt(c.limit)})`
            : `${scope} has used all of its ${c.budget} budget (${fmt(c.before)} of ${fmt(c.limit)}, 100 %)`;
        if (budget.on_exceed === 'deny') deny(ruleId, reason);
        else escalate(budget.tier, ruleId, reason);
      } else if (budget.escalate_at !== null && c.used >= budget.escalate_at * c.limit) {
        escalate(
          budget.tier,
          ruleId,
          `${scope} at ${Math.floor((c.used / c.limit) * 100)}% of its ${c.budget} budget (${fmt(c.used)} of ${fmt(c.limit)}; escalates from ${Math.round(budget.escalate_at * 100)}%)`,
        );
      }
    }
  }
  // one id once, in first-seen order
  j.ruleIds = [...new Set(j.ruleIds)];
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Math.round(n * 1e6) / 1e6);
}

/** Usage after this run against each limit of a budget. */
function budgetStates(
  budget: Budget,
  before: UsageCounters,
  input: PolicyInput,
): { budget: BudgetName; used: number; limit: number; over: boolean; before: number }[] {
  const out: { budget: BudgetName; used: number; limit: number; over: boolean; before: number }[] = [];
  const add = (name: BudgetName, limit: number | undefined, b: number, delta: number) => {
    if (limit === undefined) return;
    const used = b + delta;
    // a budget used up (100 %) refuses every further run, even one that adds nothing to it
    out.push({ budget: name, used, limit, over: used > limit || b >= limit, before: b });
  };
  add('max_calls', budget.max_calls, before.calls, 1);
  add('max_tokens', budget.max_tokens, before.tokens, input.usage?.tokens ?? 0);
  add('max_cost_usd', budget.max_cost_usd, before.cost_usd, input.usage?.cost_usd ?? 0);
  return out;
}

/**
 * Budgets this run takes over their limit for the first time (within before it, over after).
 * Counters only grow, so exactly one run crosses each limit per window. (A run refused because the
 * budget was already used up to exactly 100 % and adds nothing to it crosses nothing.)
 */
export function budgetCrossings(policy: LoadedBundle, input: PolicyInput): BudgetCrossing[] {
  const out: BudgetCrossing[] = [];
  for (const scope of ['session', 'agent'] as const) {
    const budget = policy.bundle.budgets[scope];
    if (!budget || (scope === 'session' && !input.session_id)) continue;
    const before = (scope === 'session' ? input.session_usage : input.agent_usage) ?? ZERO;
    for (const s of budgetStates(budget, before, input))
      if (s.used > s.limit && s.before <= s.limit) out.push({ scope, budget: s.budget, used: s.used, limit: s.limit });
  }
  return out;
}

/** The standing approval that covers this proposal at `tier`, if any (first by id for determinism). */
function standingFor(input: PolicyInput, tier: Tier): StandingGrant | undefined {
  let best: StandingGrant | undefined;
  for (const g of input.standing) {
    if (g.agent_id !== input.agent.id || g.tool !== input.action.tool || g.max_tier < tier) continue;
    if (g.scope === 'session' && (!input.session_id || g.session_id !== input.session_id)) continue;
    if (!best || g.id < best.id) best = g;
  }
  return best;
}

function ruleMatches(
  c: CompiledRule,
  input: PolicyInput,
  bundle: PolicyBundle,
  plan: BundlePlan,
  celContext: () => Record<string, unknown>,
): boolean {
  checkBudget();
  if (c.roles && !c.roles.has(input.agent.role)) return false;
  if (c.agents && !c.agents.test(input.agent.id)) return false;
  if (c.sessions && (input.session_id === null || !c.sessions.test(input.session_id))) return false;
  if (c.rule.when && !holds(c.rule.when, input, bundle, plan)) return false;
  if (c.rule.if !== undefined) {
    if (!c.program) throw new ConditionError(c.rule.id, `rule ${c.rule.id}: its condition did not compile`);
    let r: unknown;
    try {
      r = c.program(celContext());
    } catch (err) {
      throw new ConditionError(c.rule.id, `rule ${c.rule.id}: ${celMessage(err)}`);
    }
    if (typeof r !== 'boolean')
      throw new ConditionError(c.rule.id, `rule ${c.rule.id}: condition gave ${typeof r}, not a bool`);
    return r;
  }
  return true;
}

/** The variables a CEL condition sees (see plan.ts for the list). */
export function celContextOf(bundle: PolicyBundle, input: PolicyInput): Record<string, unknown> {
  const s = input.session_usage ?? emptySession();
  // the real paths: a symlink never hides where a path leads from a condition
  const paths = judgePaths(input.action.args, bundle.workspace.path_args, input.paths).paths.map((p) => p.real);
  const fractions = (budget: Budget | undefined, before: UsageCounters) => {
    const f = { calls: 0, tokens: 0, cost_usd: 0 };
    if (!budget) return f;
    for (const st of budgetStates(budget, before, input)) {
      const key = st.budget === 'max_calls' ? 'calls' : st.budget === 'max_tokens' ? 'tokens' : 'cost_usd';
      f[key] = st.used / st.limit;
    }
    return f;
  };
  const agentUsage = input.agent_usage ?? ZERO;
  return {
    action: input.action,
    args: input.action.args,
    agent: input.agent,
    session: {
      id: input.session_id ?? '',
      calls: s.calls,
      tokens: s.tokens,
      cost_usd: s.cost_usd,
      tools: s.tools,
      hosts: s.hosts,
      failures: input.failures,
      repeats: input.repeats ?? 0,
      budget: fractions(input.session_id ? bundle.budgets.session : undefined, s),
    },
    agent_usage: { ...agentUsage, budget: fractions(bundle.budgets.agent, agentUsage) },
    resource: { path: paths[0] ?? '', paths },
    lists: bundle.lists,
    mcp: input.mcp ?? {},
  };
}

/** The host a proposal fetches, as session history records it (first URL argument with a host). */
export function fetchedHost(bundle: PolicyBundle, args: Record<string, unknown>): string {
  for (const name of bundle.history.url_args) {
    const h = hostOf(args[name]);
    if (h) return h;
  }
  return '';
}

function holds(c: Condition, input: PolicyInput, bundle: PolicyBundle, plan: BundlePlan): boolean {
  if ('all' in c) return c.all.every((x) => holds(x, input, bundle, plan));
  if ('any' in c) return c.any.some((x) => holds(x, input, bundle, plan));
  if ('not' in c) return !holds(c.not, input, bundle, plan);
  if ('path_under' in c) {
    const root = plan.root(c.path_under);
    return judgePaths(input.action.args, bundle.workspace.path_args, input.paths).paths.some((p) =>
      isUnderRoot(p.real, root),
    );
  }
  if ('any_arg' in c) return scalars(input.action.args).some((v) => testValue(c.any_arg, v, true, plan));
  const found = lookup(input.action.args, c.arg);
  return testValue(c, found.present ? found.value : undefined, found.present, plan);
}

function testValue(t: ValueTest, value: unknown, present: boolean, plan: BundlePlan): boolean {
  if (t.exists !== undefined) return t.exists === present;
  if (!present) return false;
  if (t.equals !== undefined) return jsonEqual(value, t.equals);
  if (t.in !== undefined) return t.in.some((x) => jsonEqual(value, x));
  if (t.matches !== undefined) return typeof value === 'string' && plan.regex(t.matches).test(value);
  if (t.contains !== undefined) {
    if (Array.isArray(value)) return value.some((x) => jsonEqual(x, t.contains));
    return typeof value === 'string' && typeof t.contains === 'string' && value.includes(t.contains);
  }
  return false;
}

function lookup(args: Record<string, unknown>, path: string): { present: boolean; value?: unknown } {
  let cur: unknown = args;
  for (const key of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || !Object.prototype.hasOwnProperty.call(cur, key))
      return { present: false };
    cur = (cur as Record<string, unknown>)[key];
  }
  return { present: true, value: cur };
}

/** Every scalar anywhere in the args (object values and array items, at any depth). */
function scalars(value: unknown, out: unknown[] = [], depth = 0): unknown[] {
  if (depth > 32) return out;
  if (Array.isArray(value)) for (const v of value) scalars(v, out, depth + 1);
  else if (value !== null && typeof value === 'object')
    for (const v of Object.values(value)) scalars(v, out, depth + 1);
  else out.push(value);
  return out;
}

function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  try {
    return canonicalJson(a) === canonicalJson(b);
  } catch {
    return false;
  }
}
