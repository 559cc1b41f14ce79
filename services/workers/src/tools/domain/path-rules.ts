import * as path from 'node:path';
import { ToolError } from './tool';

/*
 * The path rules of the file and git tools that need no filesystem: containment, lexical resolution,
 * `.git` refusal, and comparing a path with what the decision judged (`constraints.resolved_paths`).
 * The checks that read the disk (real paths, descriptors) are in ../path-safety.ts.
 */

/** True if `target` is `root` or below it. Both must be absolute and normalised. */
export function isInside(root: string, target: string): boolean {
  if (target === root) return true;
  const base = root.endsWith(path.sep) ? root : root + path.sep;
  return target.startsWith(base);
}

/**
 * Resolves a workspace-relative path lexically: refuses non-strings, NUL bytes, absolute paths and
 * anything `..` takes outside the root. Does not touch the filesystem.
 */
export function resolveLexically(root: string, rel: unknown): string {
  if (typeof rel !== 'string') throw new ToolError('PATH.INVALID', 'path must be a string');
  if (rel.length === 0) throw new ToolError('PATH.INVALID', 'path must not be empty');
  if (rel.includes('\0')) throw new ToolError('PATH.INVALID', 'path must not contain NUL bytes');
  if (path.isAbsolute(rel) || path.win32.isAbsolute(rel)) {
    throw new ToolError('PATH.ABSOLUTE', `path "${rel}" is absolute; paths are relative to the workspace`);
  }
  const resolved = path.resolve(root, rel);
  if (!isInside(root, resolved)) throw new ToolError('PATH.ESCAPE', `path "${rel}" resolves outside the workspace`);
  return resolved;
}

/**
 * Refuses changes inside a `.git` directory: its config and hooks run code (core.fsmonitor, hooks)
 * and name the remotes, so agents change the repository only through the git tools.
 */
export function refuseGitInternal(root: string, abs: string, rel: string): void {
  if (
    abs
      .slice(root.length)
      .split(path.sep)
      .some((c) => c.toLowerCase() === '.git')
  ) {
    throw new ToolError('PATH.GIT_INTERNAL', `"${rel}" is inside a .git directory; use the git tools`);
  }
}

/**
 * The key policy files a path under in `constraints.resolved_paths`: normalised as policy does
 * (backslashes as separators, `.` for the root; libs/policy-language/src/paths.ts).
 */
export function judgedKey(rel: string): string {
  const normal = path.posix.normalize(rel.replace(/\\/g, '/')).replace(/\/+$/, '');
  return normal === '' ? '.' : normal;
}

/** `real` (absolute, inside `root`) as a workspace-relative path with `/` separators (`.` for the root). */
export function workspaceRelative(root: string, real: string): string {
  return path.relative(root, real).split(path.sep).join('/') || '.';
}

/**
 * The real path the decision judged `rel` as (`constraints.resolved_paths`, signed with the decision),
 * or undefined when the decision resolved no paths (one made before policy resolved them). A path
 * the decision did not list was judged as itself.
 */
export function judgedPath(rel: string, constraints: Record<string, unknown> | undefined): string | undefined {
  const judged = constraints?.resolved_paths;
  if (judged === null || typeof judged !== 'object' || Array.isArray(judged)) return undefined;
  const key = judgedKey(rel);
  const r = Object.prototype.hasOwnProperty.call(judged, key) ? (judged as Record<string, unknown>)[key] : undefined;
  return typeof r === 'string' ? r : key;
}

/**
 * Refuses (`PATH.CHANGED_SINCE_DECISION`) when `real` (where `rel` leads now) is not where it led when
 * the decision was made: a symlink created, removed or changed in between (TOCTOU) would otherwise run
 * an action against a path policy never judged (a write "to notes/" landing in prod/).
 */
export function assertRealAsJudged(
  root: string,
  real: string,
  rel: string,
  constraints: Record<string, unknown> | undefined,
): void {
  const expected = judgedPath(rel, constraints);
  if (expected === undefined) return;
  const now = workspaceRelative(root, real);
  if (now !== expected) {
    throw new ToolError(
      'PATH.CHANGED_SINCE_DECISION',
      `"${rel}" now leads to "${now}", but the decision judged "${expected}" (a link was created or changed since)`,
    );
  }
}
