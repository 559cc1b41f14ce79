import { posix } from 'node:path';

/** A workspace-relative path, normalised, or why it is not one. */
export type WorkspacePath = { ok: true; path: string } | { ok: false; reason: string };

/**
 * Normalises a path that must stay inside the workspace. Backslashes count as separators (a worker
 * on another OS, or a shell, may read them so). The root itself normalises to `.`.
 * @example normaliseWorkspacePath('a/../b/') // { ok: true, path: 'b' }
 */
export function normaliseWorkspacePath(p: string): WorkspacePath {
  if (p.includes('\0')) return { ok: false, reason: 'contains a NUL byte' };
  if (/^[\\/]/.test(p) || /^[A-Za-z]:/.test(p)) return { ok: false, reason: 'is absolute' };
  const normal = posix.normalize(p.replace(/\\/g, '/'));
  if (normal === '..' || normal.startsWith('../')) return { ok: false, reason: 'escapes the workspace' };
  const trimmed = normal.replace(/\/+$/, '');
  return { ok: true, path: trimmed === '' ? '.' : trimmed };
}

/** A path-like argument that is not a safe workspace path. */
export interface PathProblem {
  arg: string;
  reason: string;
}

/** Every value of the named path arguments (a string, or each string of an array), with its arg path. */
export function pathArgValues(
  args: Record<string, unknown>,
  names: readonly string[],
): { arg: string; value: unknown }[] {
  const out: { arg: string; value: unknown }[] = [];
  for (const name of names) {
    if (!Object.prototype.hasOwnProperty.call(args, name)) continue;
    const v = args[name];
    if (v === undefined || v === null) continue;
    if (Array.isArray(v)) v.forEach((item, i) => out.push({ arg: `${name}.${i}`, value: item }));
    else out.push({ arg: name, value: v });
  }
  return out;
}

/** Problems with the path-like arguments of an action: non-strings, absolute paths, escapes, NUL bytes. */
export function pathProblems(args: Record<string, unknown>, names: readonly string[]): PathProblem[] {
  const problems: PathProblem[] = [];
  for (const { arg, value } of pathArgValues(args, names)) {
    if (typeof value !== 'string') {
      problems.push({ arg, reason: 'must be a string path' });
      continue;
    }
    const r = normaliseWorkspacePath(value);
    if (!r.ok) problems.push({ arg, reason: r.reason });
  }
  return problems;
}

/** True if `path` (normalised) is `prefix` or inside it. */
export function isUnder(path: string, prefix: string): boolean {
  return isUnderRoot(path, normaliseWorkspacePath(prefix));
}

/** {@link isUnder} with the prefix already normalised (a bundle's prefixes are normalised once). */
export function isUnderRoot(path: string, root: WorkspacePath): boolean {
  const p = normaliseWorkspacePath(path);
  if (!p.ok || !root.ok) return false;
  if (root.path === '.') return true;
  return p.path === root.path || p.path.startsWith(`${root.path}/`);
}

/**
 * What the workspace showed for one normalised path when it was judged, as the I/O layer read it
 * (services/policy/src/decision/workspace-paths.ts): the real path (every symlink of the deepest
 * existing ancestor resolved, the components that do not exist yet joined as they are), the hard
 * link count of an existing regular file when it has more than one, or why there is none.
 */
export type ResolvedPath = { real: string; links?: number } | { outside: true } | { error: string };

/** Resolutions keyed by normalised workspace path (part of the evaluated input, so replay reads no disk). */
export type ResolvedPaths = Record<string, ResolvedPath>;

/** One path argument as judged: the path it names and the path the worker will really touch. */
export interface JudgedPath {
  arg: string;
  /** Lexically normalised (`..` is applied before links are followed, as the worker does). */
  path: string;
  /** Real workspace-relative path; `path` itself when nothing was resolved. */
  real: string;
}

/** The path arguments of an action as judged, the problems that deny it, the paths still to resolve. */
export interface PathJudgement {
  paths: JudgedPath[];
  problems: PathProblem[];
  /** Normalised paths `resolved` has no entry for (none when `resolved` is undefined). */
  unresolved: string[];
}

/**
 * Judges the path arguments of an action: lexical problems first ({@link pathProblems}), then, when
 * the input carries resolutions, what the workspace showed: a symlink leading outside, a file with
 * hard links elsewhere, a resolution error or a missing resolution are problems (fail closed).
 * Without resolutions (`resolved` undefined: an input recorded before paths were resolved, or a
 * bundle test) the real path is the lexical one.
 * @example judgePaths({ path: 'vlink/x' }, ['path'], { 'vlink/x': { real: 'prod/x' } }).paths[0].real // 'prod/x'
 */
export function judgePaths(
  args: Record<string, unknown>,
  names: readonly string[],
  resolved: ResolvedPaths | undefined,
): PathJudgement {
  const out: PathJudgement = { paths: [], problems: [], unresolved: [] };
  for (const { arg, value } of pathArgValues(args, names)) {
    if (typeof value !== 'string') {
      out.problems.push({ arg, reason: 'must be a string path' });
      continue;
    }
    const p = normaliseWorkspacePath(value);
    if (!p.ok) {
      out.problems.push({ arg, reason: p.reason });
      continue;
    }
    if (!resolved) {
      out.paths.push({ arg, path: p.path, real: p.path });
      continue;
    }
    const r = Object.prototype.hasOwnProperty.call(resolved, p.path) ? resolved[p.path] : undefined;
    if (!r) {
      out.unresolved.push(p.path);
      out.problems.push({ arg, reason: 'was not resolved in the workspace' });
    } else if ('outside' in r) {
      out.problems.push({ arg, reason: 'leads outside the workspace through a symlink' });
    } else if ('error' in r) {
      out.problems.push({ arg, reason: `could not be resolved in the workspace (${r.error})` });
    } else {
      const real = normaliseWorkspacePath(r.real);
      if (!real.ok) out.problems.push({ arg, reason: `resolves to a path that ${real.reason}` });
      else if (r.links !== undefined && r.links > 1)
        out.problems.push({
          arg,
          reason: `${real.path === p.path ? '' : `(${real.path}) `}has ${r.links} hard links; files linked from elsewhere are refused`,
        });
      else out.paths.push({ arg, path: p.path, real: real.path });
    }
  }
  return out;
}

/**
 * Every normalised path among the named arguments (the ones a resolver must look up), once each.
 * @example workspacePathsOf({ src: ['a/../b', 'b'] }, ['src']) // ['b']
 */
export function workspacePathsOf(args: Record<string, unknown>, names: readonly string[]): string[] {
  const out = new Set<string>();
  for (const { value } of pathArgValues(args, names)) {
    if (typeof value !== 'string') continue;
    const p = normaliseWorkspacePath(value);
    if (p.ok) out.add(p.path);
  }
  return [...out];
}
