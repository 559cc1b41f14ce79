import { z } from 'zod';
import { parseDocument } from 'yaml';
import { toFieldErrors } from '@warden/contracts';
import { ValidationError, sha256Canonical, type FieldError } from '@warden/kernel';

/** Rule ids the evaluator itself assigns; a bundle rule may not reuse them. */
export const BUILTIN_RULES = {
  workspaceEscape: 'workspace-escape',
  defaultDeny: 'default-deny',
  roleTools: 'role-tools',
  sessionBudget: 'session-budget',
} as const;

/** Largest bundle text accepted. */
export const MAX_BUNDLE_BYTES = 1024 * 1024;

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

const RegexSource = z
  .string()
  .min(1)
  .max(500)
  .superRefine((src, ctx) => {
    try {
      new RegExp(src, 'u');
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `invalid regular expression: ${(err as Error).message}` });
    }
  });

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
  .regex(/^[a-z0-9_.*]+$/, 'must be a tool name or glob (lowercase letters, digits, _, ., *), e.g. fs.* or git.push');

const RuleId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_.-]{0,99}$/, 'must be lowercase letters, digits, _, . and - (at most 100)')
  .refine((id) => !(Object.values(BUILTIN_RULES) as string[]).includes(id), 'is reserved for a built-in rule');

const TierNumber = z.union([z.literal(1), z.literal(2), z.literal(3)]);

const Rule = z
  .strictObject({
    id: RuleId,
    description: z.string().max(2000).optional(),
    tools: z.array(ToolGlob).min(1),
    when: Condition.optional(),
    outcome: z.enum(['allow', 'deny', 'escalate']),
    tier: TierNumber.optional(),
    reason: z.string().min(1).max(500),
    constraints: z.record(z.string(), z.json()).optional(),
  })
  .superRefine((r, ctx) => {
    if (r.outcome === 'escalate' && r.tier !== 2 && r.tier !== 3) {
      ctx.addIssue({ code: 'custom', path: ['tier'], message: 'escalate needs tier 2 or 3' });
    }
    if (r.outcome !== 'escalate' && r.tier !== undefined && r.tier !== 1) {
      ctx.addIssue({ code: 'custom', path: ['tier'], message: `${r.outcome} is always tier 1` });
    }
  })
  .transform((r) => ({ ...r, tier: r.tier ?? 1 }));

const TierSpec = z.strictObject({
  required_votes: z.number().int().min(0).max(10),
  description: z.string().max(500).optional(),
});

const RoleName = z.string().regex(/^[a-z][a-z0-9_-]*$/, 'must be a lowercase role name, e.g. dev');

const SessionBudget = z
  .strictObject({
    max_calls: z.number().int().positive().optional(),
    max_tokens: z.number().int().positive().optional(),
    /** How long a session's counters live after its last call. */
    window_seconds: z
      .number()
      .int()
      .min(60)
      .max(30 * 86400)
      .default(86400),
    /** The least tier an over-budget session escalates to. */
    tier: z.union([z.literal(2), z.literal(3)]).default(2),
  })
  .refine((b) => b.max_calls !== undefined || b.max_tokens !== undefined, 'needs max_calls or max_tokens');

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
    budgets: z.strictObject({ session: SessionBudget.optional() }).default({}),
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
  });

export type PolicyBundle = z.output<typeof PolicyBundleSchema>;
export type PolicyRule = PolicyBundle['rules'][number];

/** A validated bundle with its digest: what {@link evaluate} judges by. */
export interface LoadedBundle {
  bundle: PolicyBundle;
  /** `sha256:<hex>` of the canonical JSON of the parsed bundle (defaults applied). */
  digest: string;
}

/**
 * Validates a bundle already parsed from YAML/JSON. Throws {@link ValidationError} with dotted paths
 * (`rules.3.tier: escalate needs tier 2 or 3`).
 * @example const policy = loadBundle({ version: '1', tiers, roles, rules })
 */
export function loadBundle(raw: unknown): LoadedBundle {
  const r = PolicyBundleSchema.safeParse(raw);
  if (!r.success) throw new ValidationError(toFieldErrors(r.error));
  return { bundle: r.data, digest: sha256Canonical(r.data) };
}

/**
 * Parses bundle text (YAML, or JSON, which YAML includes) and validates it. Syntax errors are
 * reported with their line and column; duplicate keys are refused.
 * @example const policy = parseBundle(readFileSync('deploy/policies/default.yaml', 'utf8'))
 */
export function parseBundle(text: string): LoadedBundle {
  if (Buffer.byteLength(text, 'utf8') > MAX_BUNDLE_BYTES) {
    throw new ValidationError([{ path: '', message: `bundle is larger than ${MAX_BUNDLE_BYTES} bytes` }]);
  }
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length) {
    const errors: FieldError[] = doc.errors.map((e) => ({ path: '', message: `YAML: ${e.message.split('\n')[0]}` }));
    throw new ValidationError(errors);
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new ValidationError([{ path: '', message: `YAML: ${(err as Error).message}` }]);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ValidationError([{ path: '', message: 'bundle must be a mapping with version, tiers, roles and rules' }]);
  }
  return loadBundle(raw);
}
