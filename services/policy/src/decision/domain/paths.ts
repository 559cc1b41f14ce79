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
