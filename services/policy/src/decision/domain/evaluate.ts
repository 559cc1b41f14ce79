import type { Decision, TaskSubmission, Tier } from '@warden/contracts';
import { canonicalJson, sha256Canonical } from '@warden/kernel';
import { BUILTIN_RULES, type Condition, type LoadedBundle, type PolicyBundle, type ValueTest } from './bundle';
import { isUnder, pathArgValues, pathProblems } from './paths';

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
 * Judges one proposal. Pure: no I/O, time passed in. Order: workspace paths, first matching rule
 * (none: default deny; a deny rule ends there), the role's tools, then session budgets.
 * @example const verdict = evaluate(policy, policyInput(submission, usage), new Date())
 */
export function evaluate(policy: LoadedBundle, input: PolicyInput, now: Date): Verdict {
  const { bundle } = policy;
  const base = {
    mode: bundle.mode,
    policy_version: bundle.version,
    policy_digest: policy.digest,
    input_hash: sha256Canonical(input),
    evaluated_at: now.toISOString(),
  };
  const deny = (ruleId: string, reasons: string[]): Verdict => ({
    ...base,
    outcome: 'deny',
    tier: 1,
    rule_ids: [ruleId],
    reasons,
    constraints: {},
  });
  const { tool, args } = input.action;

  const problems = pathProblems(args, bundle.workspace.path_args);
  if (problems.length) {
    return deny(
      BUILTIN_RULES.workspaceEscape,
      problems.map((p) => `args.${p.arg} ${p.reason}`),
    );
  }

  const rule = bundle.rules.find(
    (r) => r.tools.some((g) => globMatches(g, tool)) && (!r.when || holds(r.when, input, bundle)),
  );
  if (!rule) {
    const named = bundle.rules.some((r) => r.tools.some((g) => globMatches(g, tool)));
    return deny(BUILTIN_RULES.defaultDeny, [
      named ? `no rule allows ${tool} with these arguments` : `the policy does not name ${tool}`,
    ]);
  }
  if (rule.outcome === 'deny') return deny(rule.id, [rule.reason]);

  const role = bundle.roles[input.agent.role];
  if (!role) return deny(BUILTIN_RULES.roleTools, [`role ${input.agent.role} is not defined by the policy`]);
  if (!role.tools.some((g) => globMatches(g, tool))) {
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
  return { ...base, outcome, tier, rule_ids: ruleIds, reasons, constraints };
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

function holds(c: Condition, input: PolicyInput, bundle: PolicyBundle): boolean {
  if ('all' in c) return c.all.every((x) => holds(x, input, bundle));
  if ('any' in c) return c.any.some((x) => holds(x, input, bundle));
  if ('not' in c) return !holds(c.not, input, bundle);
  if ('path_under' in c) {
    return pathArgValues(input.action.args, bundle.workspace.path_args).some(
      ({ value }) => typeof value === 'string' && isUnder(value, c.path_under),
    );
  }
  if ('any_arg' in c) return scalars(input.action.args).some((v) => testValue(c.any_arg, v, true));
  const found = lookup(input.action.args, c.arg);
  return testValue(c, found.present ? found.value : undefined, found.present);
}

function testValue(t: ValueTest, value: unknown, present: boolean): boolean {
  if (t.exists !== undefined) return t.exists === present;
  if (!present) return false;
  if (t.equals !== undefined) return jsonEqual(value, t.equals);
  if (t.in !== undefined) return t.in.some((x) => jsonEqual(value, x));
  if (t.matches !== undefined) return typeof value === 'string' && regex(t.matches).test(value);
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

// patterns are few and fixed per bundle: compile once
const compiled = new Map<string, RegExp>();

function regex(source: string): RegExp {
  let re = compiled.get(source);
  if (!re) {
    re = new RegExp(source, 'u');
    compiled.set(source, re);
  }
  return re;
}

/** `fs.*` matches `fs.read_file`; `*` matches any run of characters; everything else is literal. */
export function globMatches(glob: string, tool: string): boolean {
  if (!glob.includes('*')) return glob === tool;
  const key = `glob:${glob}`;
  let re = compiled.get(key);
  if (!re) {
    re = new RegExp(`^${glob.split('*').map(escapeRegex).join('.*')}$`);
    compiled.set(key, re);
  }
  return re.test(tool);
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
