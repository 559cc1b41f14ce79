import { z } from 'zod';
import { WORKER_CONSTRAINTS } from '@warden/contracts';

/** Rule ids the evaluator itself assigns; a bundle rule may not reuse them. */
export const BUILTIN_RULES = {
  workspaceEscape: 'workspace-escape',
  defaultDeny: 'default-deny',
  roleTools: 'role-tools',
  sessionBudget: 'session-budget',
  agentBudget: 'agent-budget',
  loop: 'loop-detected',
  /** The same call (tool + canonical arguments) proposed over and over in a session (`loops.max_repeats`). */
  repeatedCall: 'loop-repeated-call',
  engineError: 'engine-error',
  /** An upstream MCP tool whose definition is not the pinned one (or was never pinned). */
  mcpDefinitionChanged: 'mcp-definition-changed',
  /** An upstream MCP tool no rule names, read-only and closed-world by its annotations: tier 1. */
  mcpReadOnly: 'mcp-default-read-only',
  /** An upstream MCP tool no rule names, anything else (destructive, open-world, unannotated): tier 2. */
  mcpEscalate: 'mcp-default-escalate',
} as const;

/** Largest bundle text accepted. */
export const MAX_BUNDLE_BYTES = 1024 * 1024;

/** Deepest nesting of objects and arrays a bundle may have (a `when` tree nests a level per combinator). */
export const MAX_BUNDLE_DEPTH = 64;

/**
 * The path of the first value nested deeper than `max` levels, or undefined. Iterative, so no depth
 * overflows the stack here.
 * @example tooDeep({ a: [[1]] }, 2) // 'a.0'
 */
export function tooDeep(value: unknown, max = MAX_BUNDLE_DEPTH): string | undefined {
  const stack: { v: unknown; path: string[] }[] = [{ v: value, path: [] }];
  while (stack.length) {
    const { v, path } = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (path.length >= max) return path.join('.');
    for (const [k, child] of Object.entries(v)) stack.push({ v: child, path: [...path, k] });
  }
  return undefined;
}

type Json = string | number | boolean | null | Json[] | { [k: string]: Json };

/** One test of a value: exactly one operator. */
export interface ValueTest {
  equals?: Json;
  in?: Json[];
  matches?: string;
  contains?: Json;
  exists?: boolean;
}

/** A `when` condition. Combinators nest; leaves look at `action.args`. */
export type Condition =
  | { all: Condition[] }
  | { any: Condition[] }
  | { not: Condition }
  | ({ arg: string } & ValueTest)
  | { any_arg: Omit<ValueTest, 'exists'> }
  | { path_under: string };

const VALUE_OPERATORS = ['equals', 'in', 'matches', 'contains', 'exists'] as const;
const CONDITION_KINDS = ['all', 'any', 'not', 'arg', 'any_arg', 'path_under'] as const;

/** A regular expression with RE2 syntax; compiled (and refused, naming the rule) when the bundle loads. */
const RegexSource = z.string().min(1).max(500);

const valueOperators = {
  equals: z.json().optional(),
  in: z.array(z.json()).min(1).optional(),
  matches: RegexSource.optional(),
  contains: z.json().optional(),
};

function exactlyOneOperator(allowed: readonly string[]) {
  return (v: Record<string, unknown>, ctx: z.RefinementCtx) => {
    const present = allowed.filter((k) => v[k] !== undefined);
    if (present.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: `needs exactly one of ${allowed.join(', ')}${present.length ? ` (got ${present.join(', ')})` : ''}`,
      });
    }
  };
}

const ArgPath = z
  .string()
  .regex(
    /^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$/,
    'must be an argument name or dotted path, e.g. force or options.force',
  );

const WorkspacePrefix = z
  .string()
  .min(1)
  .max(500)
  .refine(
    (p) => !p.startsWith('/') && !p.split(/[\\/]/).includes('..') && !p.includes('\0'),
    'must be a relative path inside the workspace',
  );

const ConditionSchemas: Record<(typeof CONDITION_KINDS)[number], z.ZodType> = {
  all: z.strictObject({ all: z.array(z.lazy(() => Condition)).min(1) }),
  any: z.strictObject({ any: z.array(z.lazy(() => Condition)).min(1) }),
  not: z.strictObject({ not: z.lazy(() => Condition) }),
  arg: z
    .strictObject({ arg: ArgPath, ...valueOperators, exists: z.boolean().optional() })
    .superRefine(exactlyOneOperator(VALUE_OPERATORS)),
  any_arg: z.strictObject({
    any_arg: z.strictObject(valueOperators).superRefine(exactlyOneOperator(['equals', 'in', 'matches', 'contains'])),
  }),
  path_under: z.strictObject({ path_under: WorkspacePrefix }),
};

/** Dispatches on the condition's key, so errors name the real problem rather than "no union member matched". */
const Condition: z.ZodType<Condition> = z.unknown().transform((v, ctx) => {
  const kinds = v && typeof v === 'object' && !Array.isArray(v) ? CONDITION_KINDS.filter((k) => k in v) : [];
  if (kinds.length !== 1) {
    ctx.addIssue({ code: 'custom', message: `a condition needs exactly one of ${CONDITION_KINDS.join(', ')}` });
    return z.NEVER;
  }
  const r = ConditionSchemas[kinds[0]!].safeParse(v);
  if (!r.success) {
    for (const issue of r.error.issues) ctx.addIssue({ ...issue, path: issue.path } as never);
    return z.NEVER;
  }
  return r.data as Condition;
}) as unknown as z.ZodType<Condition>;

const ToolGlob = z
  .string()
  .min(1)
  .max(200)
  .regex(
    // the namespace is lowercase; after it, an upstream MCP tool's own spelling (`everything.get-sum`)
    /^[a-z0-9_*]+(\.[A-Za-z0-9_.*-]*)?$/,
    'must be a tool name or glob (a lowercase namespace, then letters, digits, _, ., -, *), e.g. fs.* or git.push',
  );

/** Agent ids and session ids are free text: their globs only give `*` a meaning. */
const IdGlob = z.string().min(1).max(200);

const RuleId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_.-]{0,99}$/, 'must be lowercase letters, digits, _, . and - (at most 100)')
  .refine(
    (id) => !(Object.values(BUILTIN_RULES) as string[]).includes(id) && !id.startsWith('standing:'),
    'is reserved for a built-in rule',
  );

const TierNumber = z.union([z.literal(1), z.literal(2), z.literal(3)]);

/** Seconds, or a duration like `90s`, `30m`, `4h`, `2d`. */
export const Duration = z.union([z.number().int().positive(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v;
  const m = /^(\d+)\s*(s|m|h|d)$/.exec(v.trim());
  if (!m) {
    ctx.addIssue({ code: 'custom', message: 'must be seconds or a duration like 90s, 30m, 4h, 2d' });
    return z.NEVER;
  }
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd'];
});

/** A CEL expression (compiled and type-checked when the bundle loads, see {@link compileBundle}). */
const CelSource = z.string().min(1).max(4000);

/**
 * Constraints on an allowed action, each enforced by the workers (`CONSTRAINTS` in libs/contracts):
 * any other key is refused, since nothing would enforce it.
 */
const Constraints = z
  .object({
    timeout_seconds: z.number().int().positive().max(86400).optional(),
    max_output_bytes: z.number().int().positive().optional(),
    allowed_hosts: z.array(z.string().min(1).max(253)).optional(),
    http_hosts: z.array(z.string().min(1).max(253)).optional(),
    http_allow_private: z.boolean().optional(),
    env_allow: z
      .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*\*?$/, 'must be an env var name or prefix*'))
      .optional(),
  })
  .catchall(z.json())
  .superRefine((c, ctx) => {
    for (const k of Object.keys(c)) {
      if (WORKER_CONSTRAINTS.includes(k)) continue;
      ctx.addIssue({
        code: 'custom',
        path: [k],
        message: `no worker enforces "${k}" (constraints: ${WORKER_CONSTRAINTS.join(', ')})`,
      });
    }
  });

/** The shipped rewrite recipes of `outcome: compute` (see compute.ts). */
export const RECIPES = ['force_with_lease', 'pull_request', 'email_draft', 'canary', 'path_swap'] as const;

const ComputeSpec = z.strictObject({
  recipe: z.enum(RECIPES),
  /** Recipe parameters, e.g. `{from: prod/, to: staging/}` for path_swap. */
  with: z.record(z.string(), z.json()).optional(),
});

const Rule = z
  .strictObject({
    id: RuleId,
    description: z.string().max(2000).optional(),
    tools: z.array(ToolGlob).min(1),
    /** Only for agents of these roles. */
    roles: z
      .array(z.string().regex(/^[a-z][a-z0-9_-]*$/, 'must be a role name'))
      .min(1)
      .optional(),
    /** Only for these agent ids (globs). */
    agents: z.array(IdGlob).min(1).optional(),
    /** Only for these session ids (globs). */
    sessions: z.array(IdGlob).min(1).optional(),
    when: Condition.optional(),
    /** A CEL condition over action, args, agent, session, resource and lists. */
    if: CelSource.optional(),
    outcome: z.enum(['allow', 'deny', 'escalate', 'compute']),
    tier: TierNumber.optional(),
    reason: z.string().min(1).max(500),
    constraints: Constraints.optional(),
    /** Escalations: votes needed instead of the tier's. */
    required_votes: z.number().int().min(1).max(10).optional(),
    /** Escalations: how long the approval request stays open. */
    expires_in: Duration.optional(),
    /** Overrides the bundle's mode for decisions this rule makes. */
    mode: z.enum(['enforce', 'observe']).optional(),
    /** Allow now, and ask a human to review afterwards. */
    review: z.boolean().optional(),
    compute: ComputeSpec.optional(),
  })
  .superRefine((r, ctx) => {
    if (r.outcome === 'escalate' && r.tier !== 2 && r.tier !== 3) {
      ctx.addIssue({ code: 'custom', path: ['tier'], message: 'escalate needs tier 2 or 3' });
    }
    if (r.outcome !== 'escalate' && r.tier !== undefined && r.tier !== 1) {
      ctx.addIssue({ code: 'custom', path: ['tier'], message: `${r.outcome} is always tier 1` });
    }
    if (r.outcome !== 'escalate') {
      for (const k of ['required_votes', 'expires_in'] as const)
        if (r[k] !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: 'only escalate rules take it' });
    }
    if (r.outcome === 'compute' && !r.compute)
      ctx.addIssue({ code: 'custom', path: ['compute'], message: 'compute needs a recipe, e.g. {recipe: canary}' });
    if (r.outcome !== 'compute' && r.compute)
      ctx.addIssue({ code: 'custom', path: ['compute'], message: 'only compute rules take a recipe' });
    if (r.review !== undefined && r.outcome !== 'allow')
      ctx.addIssue({ code: 'custom', path: ['review'], message: 'only allow rules take review' });
    if (r.constraints && (r.outcome === 'deny' || r.outcome === 'escalate'))
      ctx.addIssue({ code: 'custom', path: ['constraints'], message: 'only allow and compute rules take constraints' });
  })
  .transform((r) => ({ ...r, tier: r.tier ?? 1 }));

const TierSpec = z.strictObject({
  required_votes: z.number().int().min(0).max(10),
  description: z.string().max(500).optional(),
});

const RoleName = z.string().regex(/^[a-z][a-z0-9_-]*$/, 'must be a lowercase role name, e.g. dev');

const Budget = z
  .strictObject({
    max_calls: z.number().int().positive().optional(),
    max_tokens: z.number().int().positive().optional(),
    max_cost_usd: z.number().positive().optional(),
    /** How long counters live after the last call. */
    window_seconds: z
      .number()
      .int()
      .min(60)
      .max(30 * 86400)
      .default(86400),
    /** Escalate once usage after the run reaches this fraction of a limit; null: never before the limit. */
    escalate_at: z.number().gt(0).max(1).nullable().default(0.8),
    /** What happens to a run that takes usage past a limit. */
    on_exceed: z.enum(['deny', 'escalate']).default('deny'),
    /** The least tier a budget escalation asks for. */
    tier: z.union([z.literal(2), z.literal(3)]).default(2),
  })
  .refine(
    (b) => b.max_calls !== undefined || b.max_tokens !== undefined || b.max_cost_usd !== undefined,
    'needs max_calls, max_tokens or max_cost_usd',
  );
export type Budget = z.output<typeof Budget>;

const RateLimit = z.strictObject({
  id: RuleId,
  tools: z.array(ToolGlob).min(1),
  agents: z.array(IdGlob).min(1).optional(),
  /** Bucket size: calls an agent may make at once per tool. */
  capacity: z.number().int().min(1).max(1_000_000),
  /** Time to refill a whole bucket. */
  per: Duration,
  outcome: z.enum(['deny', 'escalate']).default('deny'),
  tier: z.union([z.literal(2), z.literal(3)]).default(2),
});
export type RateLimit = z.output<typeof RateLimit>;

const TestCase = z.strictObject({
  name: z.string().min(1).max(200),
  input: z.strictObject({
    agent: z.strictObject({ id: z.string().min(1).default('agent-test'), role: z.string().min(1) }),
    tool: z.string().min(1),
    args: z.record(z.string(), z.json()).default({}),
    session_id: z.string().min(1).optional(),
    usage: z.strictObject({ tokens: z.number().optional(), cost_usd: z.number().optional() }).optional(),
    /** The session before this proposal (history and counters). */
    session: z
      .strictObject({
        calls: z.number().default(0),
        tokens: z.number().default(0),
        cost_usd: z.number().default(0),
        tools: z.record(z.string(), z.number()).default({}),
        hosts: z.array(z.string()).default([]),
      })
      .optional(),
    agent_usage: z
      .strictObject({ calls: z.number().default(0), tokens: z.number().default(0), cost_usd: z.number().default(0) })
      .optional(),
    failures: z.number().int().min(0).default(0),
    /** Earlier proposals of this very call (tool + args) in the session. */
    repeats: z.number().int().min(0).optional(),
    rate_limited: z.string().optional(),
    standing: z
      .array(
        z.strictObject({
          id: z.string(),
          scope: z.enum(['session', 'agent']),
          agent_id: z.string(),
          session_id: z.string().optional(),
          tool: z.string(),
          max_tier: TierNumber,
        }),
      )
      .default([]),
  }),
  expect: z.strictObject({
    outcome: z.enum(['allow', 'deny', 'escalate', 'compute']),
    tier: TierNumber.optional(),
    rule_ids: z.array(z.string()).optional(),
    rewritten_tool: z.string().optional(),
    mode: z.enum(['enforce', 'observe']).optional(),
    review: z.boolean().optional(),
  }),
});
export type PolicyTestCase = z.output<typeof TestCase>;

/** A policy bundle as written in YAML (or JSON), validated. */
export const PolicyBundleSchema = z
  .strictObject({
    version: z
      .string()
      .min(1)
      .max(100)
      .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces'),
    description: z.string().max(2000).optional(),
    mode: z.enum(['enforce', 'observe']).default('enforce'),
    tiers: z.strictObject({ '1': TierSpec, '2': TierSpec, '3': TierSpec }).superRefine((t, ctx) => {
      if (t['1'].required_votes !== 0)
        ctx.addIssue({ code: 'custom', path: ['1', 'required_votes'], message: 'tier 1 needs no approval: must be 0' });
      if (t['2'].required_votes < 1)
        ctx.addIssue({ code: 'custom', path: ['2', 'required_votes'], message: 'must be at least 1' });
      if (t['3'].required_votes < t['2'].required_votes) {
        ctx.addIssue({
          code: 'custom',
          path: ['3', 'required_votes'],
          message: "must be at least tier 2's required_votes",
        });
      }
    }),
    workspace: z
      .strictObject({
        /** Argument names whose values are workspace-relative paths. */
        path_args: z
          .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an argument name'))
          .min(1)
          .default(['path', 'src', 'dest', 'dir']),
      })
      .default({ path_args: ['path', 'src', 'dest', 'dir'] }),
    budgets: z.strictObject({ session: Budget.optional(), agent: Budget.optional() }).default({}),
    rate_limits: z.array(RateLimit).default([]),
    /**
     * Loop detection. `max_failures`: the same action failing this many times in a session escalates the
     * next attempt. `max_repeats`: the same call (tool + canonical arguments) proposed this many times in
     * a session, failed or not, refuses the next one as a loop (`loop-repeated-call`, a deny that tells
     * the agent); from `escalate_repeats` earlier proposals on, it escalates (`tier`) instead.
     */
    loops: z
      .strictObject({
        max_failures: z.number().int().min(1).max(100),
        tier: z.union([z.literal(2), z.literal(3)]),
        max_repeats: z.number().int().min(1).max(100_000).optional(),
        escalate_repeats: z.number().int().min(2).max(100_000).optional(),
      })
      .superRefine((l, ctx) => {
        if (l.escalate_repeats === undefined) return;
        if (l.max_repeats === undefined)
          ctx.addIssue({ code: 'custom', path: ['escalate_repeats'], message: 'needs max_repeats' });
        else if (l.escalate_repeats <= l.max_repeats)
          ctx.addIssue({ code: 'custom', path: ['escalate_repeats'], message: 'must be above max_repeats' });
      })
      .optional(),
    /** Session history: which arguments name a URL whose host is remembered (`session.hosts`). */
    history: z
      .strictObject({ url_args: z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/)).default(['url']) })
      .default({ url_args: ['url'] }),
    /** Named lists for CEL conditions: `lists.trusted_hosts`. */
    lists: z.record(z.string().regex(/^[a-z][a-z0-9_]*$/), z.array(z.json())).default({}),
    roles: z
      .record(z.string(), z.strictObject({ description: z.string().max(2000).optional(), tools: z.array(ToolGlob) }))
      .superRefine((roles, ctx) => {
        // a record's key errors would only say "Invalid key in record"
        for (const name of Object.keys(roles)) {
          const r = RoleName.safeParse(name);
          if (!r.success) ctx.addIssue({ code: 'custom', path: [name], message: r.error.issues[0]!.message });
        }
      }),
    rules: z.array(Rule).min(1),
    /** Policy tests: `warden policy test <bundle>` runs them. */
    tests: z.array(TestCase).default([]),
  })
  .superRefine((b, ctx) => {
    const seen = new Map<string, number>();
    b.rules.forEach((r, i) => {
      const first = seen.get(r.id);
      if (first !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['rules', i, 'id'],
          message: `duplicate rule id "${r.id}" (also rules.${first}.id)`,
        });
      else seen.set(r.id, i);
    });
    const limits = new Set<string>();
    b.rate_limits.forEach((l, i) => {
      if (limits.has(l.id) || seen.has(l.id))
        ctx.addIssue({ code: 'custom', path: ['rate_limits', i, 'id'], message: `duplicate id "${l.id}"` });
      limits.add(l.id);
    });
  });

export type PolicyBundle = z.output<typeof PolicyBundleSchema>;
export type PolicyRule = PolicyBundle['rules'][number];
