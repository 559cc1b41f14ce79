import type { Decision, TaskSubmission, Tier } from '@warden/contracts';
import { canonicalJson, sha256Hex } from '@warden/kernel';
import {
  BUILTIN_RULES,
  type Condition,
  type LoadedBundle,
  type PolicyBundle,
  type PolicyRule,
  type ValueTest,
} from './bundle';
import { isUnderRoot, normaliseWorkspacePath, pathArgValues, pathProblems, type WorkspacePath } from './paths';

/** A session's counters before the run being judged. */
export interface SessionUsage {
  calls: number;
  tokens: number;
}

/**
 * Exactly what is judged, and hashed into `input_hash`: replaying the same input under the same
 * bundle digest gives the same outcome, rule_ids and reasons.
 */
export interface PolicyInput {
  agent: { id: string; role: string };
  session_id: string | null;
  action: { tool: string; args: Record<string, unknown> };
  usage: { tokens?: number; cost_usd?: number } | null;
  /** The session's usage before this run; null without a session. */
  session_usage: SessionUsage | null;
}

/** A Decision before the run's trace id and the signature are attached. */
export type Verdict = Omit<Decision, 'trace_id' | 'signature'>;

/** A session budget this run takes the session over for the first time. */
export interface BudgetCrossing {
  budget: 'max_calls' | 'max_tokens';
  used: number;
  limit: number;
}

/** The evaluated input of a submission, given the session's usage before it. */
export function policyInput(submission: TaskSubmission, sessionUsage: SessionUsage | null): PolicyInput {
  return {
    agent: { id: submission.agent.id, role: submission.agent.role },
    session_id: submission.session_id ?? null,
    action: { tool: submission.action.tool, args: submission.action.args },
    usage: submission.usage ?? null,
    session_usage: submission.session_id ? (sessionUsage ?? { calls: 0, tokens: 0 }) : null,
  };
}

/**
 * Canonical JSON (RFC 8785) of a policy input, the text `input_hash` hashes. Built from the
 * canonical JSON of each member in sorted key order, so a caller that already holds the action's
 * canonical JSON (the signer needs it too) does not canonicalise the action twice.
 * @example canonicalInput(input) === canonicalJson(input)
 */
export function canonicalInput(input: PolicyInput, canonicalAction = canonicalJson(input.action)): string {
  return (
    `{"action":${canonicalAction},"agent":${canonicalJson(input.agent)},"session_id":${canonicalJson(input.session_id)}` +
    `,"session_usage":${canonicalJson(input.session_usage)},"usage":${canonicalJson(input.usage)}}`
  );
}

/**
 * Judges one proposal. Pure: no I/O, time passed in. Order: workspace paths, first matching rule
 * (none: default deny; a deny rule ends there), the role's tools, then session budgets. Pass
 * `canonicalAction` (the canonical JSON of `input.action`) when you already have it.
 * @example const verdict = evaluate(policy, policyInput(submission, usage), new Date())
 */
export function evaluate(policy: LoadedBundle, input: PolicyInput, now: Date, canonicalAction?: string): Verdict {
  const { bundle } = policy;
  const plan = compiled(bundle);
  const inputHash = sha256Hex(canonicalInput(input, canonicalAction));
  const evaluatedAt = now.toISOString();
  // built field by field in one fixed order: cheaper than spreading a base object
  const verdict = (
    outcome: Verdict['outcome'],
    tier: Tier,
    ruleIds: string[],
    reasons: string[],
    constraints: Record<string, unknown>,
  ): Verdict => ({
    mode: bundle.mode,
    policy_version: bundle.version,
    policy_digest: policy.digest,
    input_hash: inputHash,
    evaluated_at: evaluatedAt,
    outcome,
    tier,
    rule_ids: ruleIds,
    reasons,
    constraints,
  });
  const deny = (ruleId: string, reasons: string[]): Verdict => verdict('deny', 1, [ruleId], reasons, {});
  const { tool, args } = input.action;

  const problems = pathProblems(args, bundle.workspace.path_args);
  if (problems.length) {
    return deny(
      BUILTIN_RULES.workspaceEscape,
      problems.map((p) => `args.${p.arg} ${p.reason}`),
    );
  }

  const named = plan.rulesFor(tool);
  const rule = named.find((r) => !r.when || holds(r.when, input, bundle, plan));
  if (!rule) {
    return deny(BUILTIN_RULES.defaultDeny, [
      named.length ? `no rule allows ${tool} with these arguments` : `the policy does not name ${tool}`,
    ]);
  }
  if (rule.outcome === 'deny') return deny(rule.id, [rule.reason]);

  const role = Object.prototype.hasOwnProperty.call(bundle.roles, input.agent.role)
    ? bundle.roles[input.agent.role]
    : undefined;
  if (!role) return deny(BUILTIN_RULES.roleTools, [`role ${input.agent.role} is not defined by the policy`]);
  if (!plan.roleAllows(input.agent.role, tool)) {
    return deny(BUILTIN_RULES.roleTools, [`role ${input.agent.role} may not use ${tool}`]);
  }

  let outcome: 'allow' | 'escalate' = rule.outcome;
  let tier: Tier = rule.tier;
  const ruleIds = [rule.id];
  const reasons = [rule.reason];
  const over = overBudget(bundle, input);
  if (over.length) {
    outcome = 'escalate';
    tier = Math.max(tier, bundle.budgets.session!.tier) as Tier;
    ruleIds.push(BUILTIN_RULES.sessionBudget);
    for (const o of over) reasons.push(`session over its ${o.budget} budget (${o.used} of ${o.limit})`);
  }
  const constraints: Record<string, unknown> = { ...(rule.constraints ?? {}) };
  if (outcome === 'escalate') constraints.required_votes = bundle.tiers[String(tier) as '1' | '2' | '3'].required_votes;
  return verdict(outcome, tier, ruleIds, reasons, constraints);
}

/** Session budgets that the session's usage after this run exceeds. */
export function overBudget(bundle: PolicyBundle, input: PolicyInput): BudgetCrossing[] {
  const budget = bundle.budgets.session;
  const before = input.session_usage;
  if (!budget || !before) return [];
  const after = usageAfter(input);
  const out: BudgetCrossing[] = [];
  if (budget.max_calls !== undefined && after.calls > budget.max_calls)
    out.push({ budget: 'max_calls', used: after.calls, limit: budget.max_calls });
  if (budget.max_tokens !== undefined && after.tokens > budget.max_tokens) {
    out.push({ budget: 'max_tokens', used: after.tokens, limit: budget.max_tokens });
  }
  return out;
}

/**
 * Budgets this run takes the session over for the first time (within budget before it, over after).
 * Counters only grow, so exactly one run of a session crosses each budget.
 */
export function budgetCrossings(policy: LoadedBundle, input: PolicyInput): BudgetCrossing[] {
  const before = input.session_usage;
  if (!before) return [];
  return overBudget(policy.bundle, input).filter(
    (o) => (o.budget === 'max_calls' ? before.calls : before.tokens) <= o.limit,
  );
}

function usageAfter(input: PolicyInput): SessionUsage {
  const before = input.session_usage ?? { calls: 0, tokens: 0 };
  return { calls: before.calls + 1, tokens: before.tokens + (input.usage?.tokens ?? 0) };
}

function holds(c: Condition, input: PolicyInput, bundle: PolicyBundle, plan: BundlePlan): boolean {
  if ('all' in c) return c.all.every((x) => holds(x, input, bundle, plan));
  if ('any' in c) return c.any.some((x) => holds(x, input, bundle, plan));
  if ('not' in c) return !holds(c.not, input, bundle, plan);
  if ('path_under' in c) {
    const root = plan.root(c.path_under);
    return pathArgValues(input.action.args, bundle.workspace.path_args).some(
      ({ value }) => typeof value === 'string' && isUnderRoot(value, root),
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

/** Entries a per-tool memo may hold: tool names come from agents, so the memo must not grow unbounded. */
const MAX_MEMO = 4096;

/**
 * What evaluation needs from a bundle, computed once per bundle rather than per evaluation: compiled
 * globs and regexes, normalised `path_under` prefixes, and per tool the rules that name it.
 */
class BundlePlan {
  private readonly ruleMatchers: ((tool: string) => boolean)[];
  private readonly roleMatchers = new Map<string, (tool: string) => boolean>();
  private readonly rulesByTool = new Map<string, PolicyRule[]>();
  private readonly roleTool = new Map<string, boolean>();
  private readonly regexes = new Map<string, RegExp>();
  private readonly roots = new Map<string, WorkspacePath>();

  constructor(private readonly bundle: PolicyBundle) {
    this.ruleMatchers = bundle.rules.map((r) => globMatcher(r.tools));
    for (const [name, role] of Object.entries(bundle.roles)) this.roleMatchers.set(name, globMatcher(role.tools));
  }

  /** The rules whose `tools` match `tool`, in bundle order. */
  rulesFor(tool: string): PolicyRule[] {
    let rules = this.rulesByTool.get(tool);
    if (!rules) {
      rules = this.bundle.rules.filter((_r, i) => this.ruleMatchers[i]!(tool));
      remember(this.rulesByTool, tool, rules);
    }
    return rules;
  }

  /** True if the role exists and one of its globs matches `tool`. */
  roleAllows(role: string, tool: string): boolean {
    const key = `${role}\u0000${tool}`;
    let allowed = this.roleTool.get(key);
    if (allowed === undefined) {
      allowed = this.roleMatchers.get(role)?.(tool) ?? false;
      remember(this.roleTool, key, allowed);
    }
    return allowed;
  }

  regex(source: string): RegExp {
    let re = this.regexes.get(source);
    if (!re) {
      re = new RegExp(source, 'u');
      this.regexes.set(source, re);
    }
    return re;
  }

  root(prefix: string): WorkspacePath {
    let root = this.roots.get(prefix);
    if (!root) {
      root = normaliseWorkspacePath(prefix);
      this.roots.set(prefix, root);
    }
    return root;
  }
}

function remember<V>(memo: Map<string, V>, key: string, value: V): void {
  if (memo.size >= MAX_MEMO) memo.clear();
  memo.set(key, value);
}

// a bundle is never changed once loaded (activation swaps the whole object), so its plan stays valid
const plans = new WeakMap<PolicyBundle, BundlePlan>();

function compiled(bundle: PolicyBundle): BundlePlan {
  let plan = plans.get(bundle);
  if (!plan) {
    plan = new BundlePlan(bundle);
    plans.set(bundle, plan);
  }
  return plan;
}

/** One matcher for a list of globs: exact names by set lookup, the rest by one regular expression. */
function globMatcher(globs: readonly string[]): (tool: string) => boolean {
  const exact = new Set(globs.filter((g) => !g.includes('*')));
  const wild = globs.filter((g) => g.includes('*'));
  if (!wild.length) return (tool) => exact.has(tool);
  const re = new RegExp(`^(?:${wild.map((g) => g.split('*').map(escapeRegex).join('.*')).join('|')})$`);
  return (tool) => exact.has(tool) || re.test(tool);
}

/** `fs.*` matches `fs.read_file`; `*` matches any run of characters; everything else is literal. */
export function globMatches(glob: string, tool: string): boolean {
  return globMatcher([glob])(tool);
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
