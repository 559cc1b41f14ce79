import { Environment, type ParseResult } from '@marcbachmann/cel-js';
import type { FieldError } from '@warden/kernel';
import type { PolicyBundle, PolicyRule, RateLimit } from './bundle';
import { isUnderRoot, normaliseWorkspacePath, type WorkspacePath } from './paths';

/** Entries a per-tool memo may hold: tool names come from agents, so the memo must not grow unbounded. */
const MAX_MEMO = 4096;

/**
 * The CEL environment every bundle compiles against. Variables (all maps; JSON numbers are CEL
 * doubles, so write `session.calls > 3` or `args.n + 1.0`):
 * - `action` `{tool, args}`, `args` (= action.args), `agent` `{id, role}`
 * - `session` `{id, calls, tokens, cost_usd, tools: {tool: count}, hosts: [host], budget: {calls, tokens, cost_usd}}`
 *   (counters before this proposal; `budget.*` = fraction of each session limit used after it, 0 without a limit)
 * - `agent_usage` `{calls, tokens, cost_usd, budget: {...}}`, the agent's counters across sessions
 * - `resource` `{path, paths}`: the path arguments normalised inside the workspace (`a/./../prod/x` → `prod/x`)
 * - `lists` the bundle's named lists
 * Functions: `under(path, prefix)` (normalised path is prefix or inside it), `glob(pattern, s)` (`*` wildcards),
 * `host(url)` (lowercased host of a URL, "" if none).
 */
function celEnvironment(): Environment {
  return new Environment({ homogeneousAggregateLiterals: false, limits: { maxAstNodes: 2000, maxDepth: 64 } })
    .registerVariable('action', 'map')
    .registerVariable('args', 'map')
    .registerVariable('agent', 'map')
    .registerVariable('session', 'map')
    .registerVariable('agent_usage', 'map')
    .registerVariable('resource', 'map')
    .registerVariable('lists', 'map')
    .registerFunction('under(string, string): bool', (p: string, prefix: string) =>
      isUnderRoot(p, normaliseWorkspacePath(prefix)),
    )
    .registerFunction('glob(string, string): bool', (pattern: string, s: string) => globRegex([pattern]).test(s))
    .registerFunction('host(string): string', (url: string) => hostOf(url));
}

let sharedEnv: Environment | undefined;
function env(): Environment {
  return (sharedEnv ??= celEnvironment());
}

/** The lowercased host of a URL, or "" when it is not one. */
export function hostOf(url: unknown): string {
  if (typeof url !== 'string') return '';
  try {
    return new URL(url).hostname.toLowerCase();
  } catch {
    return '';
  }
}

/** A rule with its compiled parts. */
export interface CompiledRule {
  rule: PolicyRule;
  index: number;
  program?: ParseResult;
  roles?: Set<string>;
  agents?: RegExp;
  sessions?: RegExp;
  /** Selectors present: when, if, roles, agents, sessions. */
  selectors: number;
  /** escalate 3 > escalate 2 > compute > allow; deny is handled first anyway. */
  strictness: number;
}

/** One candidate for a tool: the rule and how specifically its `tools` name the tool. */
interface Candidate {
  compiled: CompiledRule;
  toolScore: number;
}

/**
 * What evaluation needs from a bundle, computed once when it loads: CEL programs (parsed and
 * type-checked), compiled globs, normalised `path_under` prefixes, and per tool the rules that name
 * it, ordered for evaluation (deny rules first, then most specific; see README "Evaluation order").
 */
export class BundlePlan {
  readonly errors: FieldError[] = [];
  readonly rules: CompiledRule[];
  private readonly exactTools = new Map<string, number[]>();
  private readonly globRules: { index: number; re: RegExp }[] = [];
  private readonly roleMatchers = new Map<string, (tool: string) => boolean>();
  private readonly rulesByTool = new Map<string, CompiledRule[]>();
  private readonly roleTool = new Map<string, boolean>();
  private readonly regexes = new Map<string, RegExp>();
  private readonly roots = new Map<string, WorkspacePath>();
  private readonly limitsByTool = new Map<string, RateLimit | null>();
  private readonly limitMatchers: { limit: RateLimit; tools: RegExp; agents?: RegExp }[];

  constructor(private readonly bundle: PolicyBundle) {
    this.rules = bundle.rules.map((rule, index) => this.compile(rule, index));
    bundle.rules.forEach((r, i) => {
      for (const g of r.tools) {
        if (g.includes('*')) this.globRules.push({ index: i, re: globRegex([g]) });
        else {
          const at = this.exactTools.get(g);
          if (at) at.push(i);
          else this.exactTools.set(g, [i]);
        }
      }
    });
    for (const [name, role] of Object.entries(bundle.roles)) this.roleMatchers.set(name, globMatcher(role.tools));
    this.limitMatchers = bundle.rate_limits.map((limit) => ({
      limit,
      tools: globRegex(limit.tools),
      agents: limit.agents ? globRegex(limit.agents) : undefined,
    }));
  }

  private compile(rule: PolicyRule, index: number): CompiledRule {
    let program: ParseResult | undefined;
    if (rule.if !== undefined) {
      try {
        program = env().parse(rule.if);
        const checked = program.check();
        if (!checked.valid) throw checked.error ?? new Error('does not type-check');
        if (checked.type !== 'bool' && checked.type !== 'dyn')
          throw new Error(`must be a bool expression, this one is ${checked.type}`);
      } catch (err) {
        program = undefined;
        this.errors.push({ path: `rules.${index}.if`, message: `CEL: ${celMessage(err)}` });
      }
    }
    const selectors = ['when', 'if', 'roles', 'agents', 'sessions'].filter(
      (k) => rule[k as keyof PolicyRule] !== undefined,
    ).length;
    const strictness =
      rule.outcome === 'escalate' ? 10 + rule.tier : rule.outcome === 'compute' ? 5 : rule.outcome === 'deny' ? 20 : 0;
    return {
      rule,
      index,
      program,
      roles: rule.roles ? new Set(rule.roles) : undefined,
      agents: rule.agents ? globRegex(rule.agents) : undefined,
      sessions: rule.sessions ? globRegex(rule.sessions) : undefined,
      selectors,
      strictness,
    };
  }

  /**
   * The rules whose `tools` match `tool`, in evaluation order: deny rules first (deny overrides),
   * then by specificity (more selectors; an exact tool name before a glob; a longer glob before a
   * shorter one), then the stricter outcome, then bundle order.
   */
  rulesFor(tool: string): CompiledRule[] {
    let rules = this.rulesByTool.get(tool);
    if (!rules) {
      const candidates = new Map<number, Candidate>();
      for (const i of this.exactTools.get(tool) ?? []) candidates.set(i, { compiled: this.rules[i]!, toolScore: 1000 });
      for (const g of this.globRules) {
        if (!g.re.test(tool)) continue;
        const score = literalLength(this.bundle.rules[g.index]!.tools, tool);
        const had = candidates.get(g.index);
        if (!had || had.toolScore < score)
          candidates.set(g.index, { compiled: this.rules[g.index]!, toolScore: score });
      }
      rules = [...candidates.values()].sort(byPriority).map((c) => c.compiled);
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

  /** The first rate limit naming this agent and tool, or null. */
  rateLimitFor(agentId: string, tool: string): RateLimit | null {
    const key = `${agentId}\u0000${tool}`;
    let found = this.limitsByTool.get(key);
    if (found === undefined) {
      found =
        this.limitMatchers.find((m) => m.tools.test(tool) && (!m.agents || m.agents.test(agentId)))?.limit ?? null;
      remember(this.limitsByTool, key, found);
    }
    return found;
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

function byPriority(a: Candidate, b: Candidate): number {
  const ad = a.compiled.rule.outcome === 'deny' ? 1 : 0;
  const bd = b.compiled.rule.outcome === 'deny' ? 1 : 0;
  return (
    bd - ad ||
    b.compiled.selectors - a.compiled.selectors ||
    b.toolScore - a.toolScore ||
    b.compiled.strictness - a.compiled.strictness ||
    a.compiled.index - b.compiled.index
  );
}

/** Literal characters of the longest glob of `globs` that matches `tool`. */
function literalLength(globs: readonly string[], tool: string): number {
  let best = 0;
  for (const g of globs) {
    if (!g.includes('*')) continue;
    if (globRegex([g]).test(tool)) best = Math.max(best, g.replace(/\*/g, '').length);
  }
  return best;
}

function remember<V>(memo: Map<string, V>, key: string, value: V): void {
  if (memo.size >= MAX_MEMO) memo.clear();
  memo.set(key, value);
}

/** One regular expression for a list of globs (`*` = any run of characters, the rest literal). */
export function globRegex(globs: readonly string[]): RegExp {
  return new RegExp(`^(?:${globs.map((g) => g.split('*').map(escapeRegex).join('.*')).join('|')})$`, 's');
}

/** One matcher for a list of globs: exact names by set lookup, the rest by one regular expression. */
export function globMatcher(globs: readonly string[]): (tool: string) => boolean {
  const exact = new Set(globs.filter((g) => !g.includes('*')));
  const wild = globs.filter((g) => g.includes('*'));
  if (!wild.length) return (tool) => exact.has(tool);
  const re = globRegex(wild);
  return (tool) => exact.has(tool) || re.test(tool);
}

/** `fs.*` matches `fs.read_file`; `*` matches any run of characters; everything else is literal. */
export function globMatches(glob: string, tool: string): boolean {
  return globMatcher([glob])(tool);
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A CEL error's first line, with the column it points at. */
export function celMessage(err: unknown): string {
  const e = err as { message?: string; range?: { start: number } };
  const first = (e.message ?? String(err)).split('\n')[0]!;
  return e.range ? `${first} (at column ${e.range.start + 1})` : first;
}
