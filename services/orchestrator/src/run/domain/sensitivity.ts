import type { Action, Decision } from '@warden/contracts';

/**
 * Classes of sensitive operation an agent can propose, as bounded metric labels: tier 2 or 3
 * decisions, secrets, production paths, outbound network, and the classes an operator marks
 * (`WARDEN_SENSITIVE_TOOLS`).
 */
export interface SensitivityRules {
  /** Operator-marked classes: class name → tool patterns (`payments.*`, `deploy.canary`). */
  marked: Readonly<Record<string, readonly string[]>>;
  /** A string argument matching this names a production resource. */
  prodPath: RegExp;
}

export const DEFAULT_PROD_PATH = /(^|[/:._-])(prod|production)([/:._-]|$)/i;
const NETWORK_TOOLS = ['http.*', 'email.send', 'git.push', 'pr.*', 'deploy.*'];
const SECRET_TOOLS = ['secrets.*'];
/** Arguments that name a resource (a path, a host, an environment), never the content. */
const RESOURCE_ARGS = new Set([
  'path',
  'paths',
  'cwd',
  'dir',
  'target',
  'environment',
  'env',
  'url',
  'branch',
  'remote',
]);

/** `ns.*` matches every tool of a namespace, `*` every tool, anything else one tool. */
export function toolMatches(tool: string, pattern: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('.*')) return tool.startsWith(pattern.slice(0, -1));
  return tool === pattern;
}

function resourceStrings(args: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(args)) {
    if (!RESOURCE_ARGS.has(k)) continue;
    if (typeof v === 'string') out.push(v);
    else if (Array.isArray(v)) for (const x of v) if (typeof x === 'string') out.push(x);
  }
  return out;
}

/**
 * The sensitive classes of one proposal under its decision (pure; the tool, the resource-naming
 * arguments and the decision's tier and constraints, never argument contents otherwise).
 * @example sensitiveClasses({ tool: 'secrets.read', args: {} }, decision, rules) // ['secrets', 'tier_2']
 */
export function sensitiveClasses(
  action: Pick<Action, 'tool' | 'args'>,
  decision: Pick<Decision, 'tier' | 'constraints'> | undefined,
  rules: SensitivityRules,
): string[] {
  const classes = new Set<string>();
  const tool = action.tool;
  if (decision && decision.tier >= 2) classes.add(`tier_${decision.tier}`);
  if (SECRET_TOOLS.some((p) => toolMatches(tool, p))) classes.add('secrets');
  const hosts = decision?.constraints as { allowed_hosts?: unknown; http_hosts?: unknown } | undefined;
  const hasHosts = (v: unknown) => Array.isArray(v) && v.length > 0;
  if (NETWORK_TOOLS.some((p) => toolMatches(tool, p)) || hasHosts(hosts?.allowed_hosts) || hasHosts(hosts?.http_hosts))
    classes.add('network');
  if (tool === 'deploy.production' || resourceStrings(action.args ?? {}).some((s) => rules.prodPath.test(s)))
    classes.add('prod_path');
  for (const [name, patterns] of Object.entries(rules.marked))
    if (patterns.some((p) => toolMatches(tool, p))) classes.add(name);
  return [...classes].sort();
}

/**
 * Parses `WARDEN_SENSITIVE_TOOLS`: `class=pattern|pattern,class=pattern` (class names are metric
 * labels: `[a-z][a-z0-9_]*`). Throws on a malformed entry, naming it.
 * @example parseMarkedClasses('payments=payments.*|stripe.*,deploys=deploy.canary')
 */
export function parseMarkedClasses(spec: string | undefined): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const entry of (spec ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^([a-z][a-z0-9_]{0,31})=(.+)$/.exec(entry);
    if (!m) throw new Error(`"${entry}" is not class=pattern|pattern (class: lower-case letters, digits, _)`);
    const patterns = m[2]!.split('|').map((p) => p.trim());
    if (patterns.some((p) => !/^(\*|[a-z0-9_-]+(\.\*|\.[a-z0-9_.-]+)?)$/i.test(p)))
      throw new Error(`"${entry}": a pattern is a tool (ns.verb), a namespace (ns.*) or *`);
    out[m[1]!] = patterns;
  }
  return out;
}
