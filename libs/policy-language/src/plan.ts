import { Environment, type ParseResult } from '@marcbachmann/cel-js';
import type { FieldError } from '@warden/kernel';
import type { Condition, PolicyBundle, PolicyRule, RateLimit } from './schema';
import {
  MAX_DYNAMIC_PATTERN,
  checkBudget,
  compileRegex,
  globTest,
  globsMatcher,
  re2Problem,
  type Matcher,
} from './bounded';
import { isUnderRoot, normaliseWorkspacePath, type WorkspacePath } from './paths';

/** Entries a per-tool memo may hold: tool names come from agents, so the memo must not grow unbounded. */
const MAX_MEMO = 4096;

/**
 * The CEL environment every bundle compiles against. Variables (all maps; JSON numbers are CEL
 * doubles, so write `session.calls > 3` or `args.n + 1.0`):
 * - `action` `{tool, args}`, `args` (= action.args), `agent` `{id, role}`
 * - `session` `{id, calls, tokens, cost_usd, tools: {tool: count}, hosts: [host], failures, repeats, budget: {calls, tokens, cost_usd}}`
 *   (counters before this proposal; `budget.*` = fraction of each session limit used after it, 0 without a limit)
 * - `agent_usage` `{calls, tokens, cost_usd, budget: {...}}`, the agent's counters across sessions
 * - `resource` `{path, paths}`: the path arguments normalised inside the workspace (`a/./../prod/x` → `prod/x`)
 * - `lists` the bundle's named lists
 * - `mcp` for an upstream MCP tool `{server, server_role, tool, digest, pinned, annotations}` (else `{}`)
 * Functions: `under(path, prefix)` (normalised path is prefix or inside it), `glob(pattern, s)` (`*` wildcards),
 * `host(url)` (lowercased host of a URL, "" if none). `s.matches(re)` runs on RE2 (see {@link useRe2}),
 * and every function checks the decision's time budget.
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
    .registerVariable('mcp', 'map')
    .registerFunction('under(string, string): bool', (p: string, prefix: string) => {
      checkBudget();
      return isUnderRoot(p, normaliseWorkspacePath(prefix));
    })
    .registerFunction('glob(string, string): bool', (pattern: string, s: string) => {
      checkBudget();
      return globTest(pattern, s);
    })
    .registerFunction('host(string): string', (url: string) => {
      checkBudget();
      return hostOf(url);
    })
    .registerFunction(`string.${RE2_MATCHES}(string): bool`, (s: string, pattern: string) => celRegex(pattern).test(s));
}

/** The name `s.matches(re)` is compiled to: cel-js's own `matches` backtracks, and it cannot be overridden. */
const RE2_MATCHES = 're2_matches';

const celRegexes = new Map<string, Matcher>();
/** A CEL pattern on RE2, memoised (bounded: a pattern may come from the input). */
function celRegex(pattern: string): Matcher {
  let re = celRegexes.get(pattern);
  if (!re) {
    if (pattern.length > MAX_DYNAMIC_PATTERN)
      throw new Error(`matches: pattern longer than ${MAX_DYNAMIC_PATTERN} characters`);
    const problem = re2Problem(pattern);
    if (problem !== undefined) throw new Error(`matches: invalid regular expression (RE2): ${problem}`);
    re = compileRegex(pattern);
    remember(celRegexes, pattern, re);
  }
  return re;
}

interface CelNode {
  op: string;
  args: unknown;
  meta?: { alternate?: unknown };
}

function isCelNode(v: unknown): v is CelNode {
  return typeof v === 'object' && v !== null && typeof (v as CelNode).op === 'string' && 'args' in v;
}

/**
 * Points every `.matches(...)` of a parsed (not yet checked) expression at the RE2 implementation,
 * and returns the problems of literal patterns RE2 refuses, so a bundle with one never loads.
 */
export function useRe2(ast: unknown): string[] {
  const problems: string[] = [];
  const seen = new Set<unknown>();
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(visit);
    if (typeof v !== 'object' || v === null || seen.has(v)) return;
    seen.add(v);
    if (!isCelNode(v)) return Object.values(v).forEach(visit);
    const args = v.args;
    if (v.op === 'rcall' && Array.isArray(args) && args[0] === 'matches') {
      args[0] = RE2_MATCHES;
      const pattern = (args[2] as unknown[] | undefined)?.[0];
      if (isCelNode(pattern) && pattern.op === 'value' && typeof pattern.args === 'string') {
        const problem = re2Problem(pattern.args);
        if (problem !== undefined)
          problems.push(`pattern ${JSON.stringify(pattern.args)} is not a valid RE2 regular expression: ${problem}`);
      }
    }
    visit(args);
    visit(v.meta?.alternate);
  };
  visit(ast);
  return problems;
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
  agents?: Matcher;
  sessions?: Matcher;
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
 * it, ordered for evaluation (deny rules first, then most specific; see docs/services/policy.md, "Evaluation order").
 */
export class BundlePlan {
  readonly errors: FieldError[] = [];
  readonly rules: CompiledRule[];
  private readonly exactTools = new Map<string, number[]>();
  private readonly globRules: { index: number; re: Matcher }[] = [];
  private readonly roleMatchers = new Map<string, (tool: string) => boolean>();
  private readonly rulesByTool = new Map<string, CompiledRule[]>();
  private readonly roleTool = new Map<string, boolean>();
  private readonly regexes = new Map<string, Matcher>();
  private readonly roots = new Map<string, WorkspacePath>();
  private readonly limitsByTool = new Map<string, RateLimit | null>();
  private readonly limitMatchers: { limit: RateLimit; tools: Matcher; agents?: Matcher }[];

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
        const refused = useRe2(program.ast);
        if (refused.length) throw new Error(`rule ${rule.id}: ${refused.join('; ')}`);
        const checked = program.check();
        if (!checked.valid) throw checked.error ?? new Error('does not type-check');
        if (checked.type !== 'bool' && checked.type !== 'dyn')
          throw new Error(`must be a bool expression, this one is ${checked.type}`);
      } catch (err) {
        program = undefined;
        this.errors.push({ path: `rules.${index}.if`, message: `CEL: ${celMessage(err)}` });
      }
    }
    if (rule.when) this.checkPatterns(rule.when, `rules.${index}.when`, rule.id);
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

  /** Refuses a `when` pattern RE2 cannot compile, naming the rule. */
  private checkPatterns(c: Condition, path: string, ruleId: string): void {
    if ('all' in c) return c.all.forEach((x, i) => this.checkPatterns(x, `${path}.all.${i}`, ruleId));
    if ('any' in c) return c.any.forEach((x, i) => this.checkPatterns(x, `${path}.any.${i}`, ruleId));
    if ('not' in c) return this.checkPatterns(c.not, `${path}.not`, ruleId);
    const [test, at] = 'any_arg' in c ? [c.any_arg, `${path}.any_arg.matches`] : [c, `${path}.matches`];
    if (!('matches' in test) || test.matches === undefined) return;
    const problem = re2Problem(test.matches);
    if (problem !== undefined)
      this.errors.push({
        path: at,
        message: `rule ${ruleId}: invalid regular expression (RE2 syntax, no lookaround or backreferences): ${problem}`,
      });
  }

  /** A `when` pattern on RE2 (patterns are checked when the bundle loads). */
  regex(source: string): Matcher {
    let re = this.regexes.get(source);
    if (!re) {
      re = compileRegex(source);
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

/** One matcher for a list of globs (`*` = any run of characters, the rest literal). */
export function globRegex(globs: readonly string[]): Matcher {
  return globsMatcher(globs);
}

/** One matcher for a list of globs: exact names by set lookup, the rest by a segment scan. */
export function globMatcher(globs: readonly string[]): (tool: string) => boolean {
  const m = globsMatcher(globs);
  return (tool) => m.test(tool);
}

/** `fs.*` matches `fs.read_file`; `*` matches any run of characters; everything else is literal. */
export function globMatches(glob: string, tool: string): boolean {
  return globTest(glob, tool);
}

/** A CEL error's first line, with the column it points at. */
export function celMessage(err: unknown): string {
  const e = err as { message?: string; range?: { start: number } };
  const first = (e.message ?? String(err)).split('\n')[0]!.replaceAll(RE2_MATCHES, 'matches');
  return e.range ? `${first} (at column ${e.range.start + 1})` : first;
}
