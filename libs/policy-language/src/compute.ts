import { sha256Hex } from '@warden/kernel';
import type { RECIPES } from './schema';
import { normaliseWorkspacePath, pathArgValues } from './paths';

/** An action as the policy judges it. */
export interface JudgedAction {
  tool: string;
  args: Record<string, unknown>;
}

/** What a recipe made of the action, and how to say so. */
export interface Rewrite {
  action: JudgedAction;
  /** e.g. "git.push --force → git.push --force-with-lease". */
  summary: string;
}

/** What a recipe sees besides the action (deterministic: replay gives the same rewrite). */
export interface RecipeContext {
  agentId: string;
  inputHash: string;
  pathArgs: readonly string[];
  /** The real path (symlinks resolved) a normalised path argument was judged as; itself if unknown. */
  realPath?: (path: string) => string;
}

type Recipe = (action: JudgedAction, params: Record<string, unknown>, ctx: RecipeContext) => Rewrite | string;

const FORCE_FLAG = /^(--force|-f)$/;

/**
 * The shipped rewrite recipes. Each returns the rewritten action, or a string saying why it cannot
 * rewrite this action (the decision is then a deny with that reason: a compute rule never lets an
 * action it could not make safe through).
 */
export const recipes: Record<(typeof RECIPES)[number], Recipe> = {
  /**
   * `git.push --force` (flag, `force: true`, `+refspec`) → the same push with `force_with_lease: true`
   * (the git tool's `--force-with-lease`): the force flags are dropped, `+` refspecs lose their `+`.
   */
  force_with_lease(action) {
    const args: Record<string, unknown> = { ...action.args };
    delete args.force;
    const fixList = (v: unknown): unknown =>
      Array.isArray(v)
        ? v
            .filter((x) => !(typeof x === 'string' && FORCE_FLAG.test(x)))
            .map((x) => (typeof x === 'string' && /^\+.+/.test(x) ? x.slice(1) : x))
        : typeof v === 'string' && /^\+.+/.test(v)
          ? v.slice(1)
          : v;
    for (const k of Object.keys(args)) if (k !== 'force_with_lease') args[k] = fixList(args[k]);
    args.force_with_lease = true;
    return {
      action: { tool: action.tool, args },
      summary: `${action.tool} --force → ${action.tool} --force-with-lease`,
    };
  },

  /** `git.push` to a protected branch → `pr.open` from a fresh branch `warden/<agent>/<hash>` into it. */
  pull_request(action, params, ctx) {
    const base = typeof action.args.branch === 'string' ? action.args.branch : undefined;
    if (!base) return 'the push names no branch to open a pull request against';
    const prefix = typeof params.branch_prefix === 'string' ? params.branch_prefix : 'warden/';
    const head = `${prefix}${slug(ctx.agentId)}/${ctx.inputHash.replace(/^sha256:/, '').slice(0, 12)}`;
    const args: Record<string, unknown> = { base, head, push_head: true };
    if (typeof action.args.remote === 'string') args.remote = action.args.remote;
    if (typeof action.args.title === 'string') args.title = action.args.title;
    else args.title = `${ctx.agentId}: changes for ${base}`;
    return { action: { tool: 'pr.open', args }, summary: `git.push to ${base} → pr.open ${head} → ${base}` };
  },

  /** `email.send` → `email.draft` with the same message: a human presses send. */
  email_draft(action, params) {
    const tool = typeof params.tool === 'string' ? params.tool : 'email.draft';
    return { action: { tool, args: { ...action.args } }, summary: `${action.tool} → ${tool} (a draft, not sent)` };
  },

  /** `deploy.production` → `deploy.canary` (default 10 %) with the same ref. */
  canary(action, params) {
    const percent = typeof params.percent === 'number' ? params.percent : 10;
    return {
      action: { tool: 'deploy.canary', args: { ...action.args, percent } },
      summary: `${action.tool} → deploy.canary at ${percent}%`,
    };
  },

  /** A path argument under `from` (default `prod/`) → the same relative path under `to` (default `staging/`). */
  path_swap(action, params, ctx) {
    const from = normaliseWorkspacePath(typeof params.from === 'string' ? params.from : 'prod/');
    const to = normaliseWorkspacePath(typeof params.to === 'string' ? params.to : 'staging/');
    if (!from.ok || !to.ok) return 'path_swap needs relative from/to paths';
    const args: Record<string, unknown> = { ...action.args };
    const moved: string[] = [];
    for (const { arg, value } of pathArgValues(action.args, ctx.pathArgs)) {
      if (typeof value !== 'string') continue;
      const lexical = normaliseWorkspacePath(value);
      if (!lexical.ok) continue;
      // swap where the path really leads: a link into prod/ is moved like prod/ itself
      const p = { path: ctx.realPath?.(lexical.path) ?? lexical.path };
      let swapped: string | undefined;
      if (p.path === from.path) swapped = to.path;
      else if (p.path.startsWith(`${from.path}/`)) swapped = `${to.path}/${p.path.slice(from.path.length + 1)}`;
      if (swapped === undefined) continue;
      const [name, item] = arg.split('.');
      if (item === undefined) args[name!] = swapped;
      else {
        const list = [...(args[name!] as unknown[])];
        list[Number(item)] = swapped;
        args[name!] = list;
      }
      moved.push(`${p.path} → ${swapped}`);
    }
    if (!moved.length) return `no path argument is under ${from.path}/`;
    return { action: { tool: action.tool, args }, summary: `${action.tool} ${moved.join(', ')}` };
  },
};

function slug(s: string): string {
  return (
    s
      .toLowerCase()
      .replace(/[^a-z0-9._-]+/g, '-')
      .slice(0, 40) || sha256Hex(s).slice(0, 8)
  );
}
