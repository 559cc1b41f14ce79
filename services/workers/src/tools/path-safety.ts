import { constants } from 'node:fs';
import * as path from 'node:path';
import { assertRealAsJudged, isInside, judgedPath, refuseGitInternal, resolveLexically } from './domain/path-rules';
import { ToolError } from './domain/tool';
import { fsOps } from './fs-ops';

/**
 * Creates the workspace directory if missing and returns its real path (symlinks resolved), which
 * every containment check compares against.
 */
export async function prepareWorkspace(dir: string): Promise<string> {
  await fsOps().mkdirs(dir);
  return fsOps().realpath(dir);
}

/** Where a path really points, and whether all of it exists. */
export interface RealPath {
  /** Real path of the deepest existing ancestor, joined with the components that do not exist yet. */
  real: string;
  exists: boolean;
}

/**
 * Resolves symlinks of the deepest existing ancestor of `abs` and checks it stays inside `root`,
 * so a symlink inside the workspace cannot lead out of it.
 */
export async function resolveReal(root: string, abs: string, rel: string): Promise<RealPath> {
  const tail: string[] = [];
  let cur = abs;
  for (;;) {
    try {
      const real = await fsOps().realpath(cur);
      if (!isInside(root, real))
        throw new ToolError('PATH.ESCAPE', `path "${rel}" leads outside the workspace through a symlink`);
      return { real: tail.length ? path.join(real, ...tail.reverse()) : real, exists: tail.length === 0 };
    } catch (err) {
      if (err instanceof ToolError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || cur === root) throw fsError(err, rel);
      tail.push(path.basename(cur));
      cur = path.dirname(cur);
    }
  }
}

/**
 * Resolves `rel` as policy did (`..` first, then the real path of the deepest existing ancestor,
 * every component, the final one included) and refuses if that is not what the decision judged.
 * See {@link assertRealAsJudged}.
 */
export async function assertAsJudged(
  root: string,
  abs: string,
  rel: string,
  constraints: Record<string, unknown> | undefined,
): Promise<void> {
  if (judgedPath(rel, constraints) === undefined) return;
  assertRealAsJudged(root, (await resolveReal(root, abs, rel)).real, rel, constraints);
}

/**
 * Real path of an existing file or directory inside the workspace (read and list); with the
 * decision's `constraints`, it must be the path the decision judged.
 */
export async function resolveExisting(
  root: string,
  rel: unknown,
  constraints?: Record<string, unknown>,
): Promise<string> {
  const abs = resolveLexically(root, rel);
  const r = await resolveReal(root, abs, rel as string);
  if (!r.exists) throw new ToolError('FS.NOT_FOUND', `"${rel as string}" does not exist`);
  assertRealAsJudged(root, r.real, rel as string, constraints);
  return r.real;
}

/**
 * Where a write to `rel` lands: the real parent directory (created when `createDirs`) joined with the
 * final component, which is NOT resolved, so a symlink there is refused rather than followed. With
 * the decision's `constraints`, the path must still lead where the decision judged it to.
 */
export async function resolveForWrite(
  root: string,
  rel: unknown,
  createDirs: boolean,
  constraints?: Record<string, unknown>,
): Promise<string> {
  const abs = resolveLexically(root, rel);
  refuseGitInternal(root, abs, rel as string);
  if (abs === root) throw new ToolError('FS.IS_DIRECTORY', 'cannot write to the workspace root');
  // before any directory is created: a refused write leaves nothing behind
  await assertAsJudged(root, abs, rel as string, constraints);
  const parent = await resolveReal(root, path.dirname(abs), rel as string);
  let dir = parent.real;
  if (!parent.exists) {
    if (!createDirs) throw new ToolError('FS.NOT_FOUND', `the directory of "${rel as string}" does not exist`);
    await fsOps()
      .mkdirs(dir)
      .catch((err: unknown) => {
        throw fsError(err, rel as string);
      });
    // re-check: something may have raced a symlink into the path while it was created
    dir = await fsOps()
      .realpath(dir)
      .catch((err: unknown) => {
        throw fsError(err, rel as string);
      });
    if (!isInside(root, dir)) throw new ToolError('PATH.ESCAPE', `path "${rel as string}" leads outside the workspace`);
  }
  const target = path.join(dir, path.basename(abs));
  const st = await fsOps()
    .lstat(target)
    .catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw fsError(err, rel as string);
    });
  if (st?.isSymbolicLink())
    throw new ToolError('PATH.SYMLINK', `"${rel as string}" is a symlink; writes never follow symlinks`);
  assertRealAsJudged(root, target, rel as string, constraints);
  if (st?.isDirectory()) throw new ToolError('FS.IS_DIRECTORY', `"${rel as string}" is a directory`);
  if (st) assertPlainFile(st, rel as string);
  return target;
}

/**
 * After open, checks where the descriptor really points (Linux `/proc/self/fd`), closing the gap
 * between resolving a path and opening it: inside the workspace and, with the decision's
 * `constraints`, the path the decision judged. A no-op where `/proc` is unavailable.
 */
export async function assertOpenedInside(
  root: string,
  fd: number,
  rel: string,
  constraints?: Record<string, unknown>,
): Promise<void> {
  let real: string;
  try {
    real = await fsOps().readlink(`/proc/self/fd/${fd}`);
  } catch {
    return;
  }
  if (!isInside(root, real)) throw new ToolError('PATH.ESCAPE', `"${rel}" was swapped to point outside the workspace`);
  assertRealAsJudged(root, real, rel, constraints);
}

/**
 * Refuses what an opened file must not be: a device (character or block special), or a regular file
 * with more than one hard link (its other name may be outside the workspace, where a read would leak
 * and a write would land).
 */
export function assertPlainFile(
  st: { isCharacterDevice(): boolean; isBlockDevice(): boolean; isFile(): boolean; nlink: number },
  rel: string,
): void {
  if (st.isCharacterDevice() || st.isBlockDevice()) throw new ToolError('PATH.DEVICE', `"${rel}" is a device file`);
  if (st.isFile() && st.nlink > 1) {
    throw new ToolError(
      'PATH.HARDLINK',
      `"${rel}" has ${st.nlink} hard links; files linked from elsewhere are refused`,
    );
  }
}

/** Flags for opening without following a final symlink and without blocking on FIFOs. */
export const OPEN_READ = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
export const OPEN_WRITE = constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK;

const ERRNO_CODES: Record<string, [string, string]> = {
  ENOENT: ['FS.NOT_FOUND', 'does not exist'],
  EISDIR: ['FS.IS_DIRECTORY', 'is a directory'],
  ENOTDIR: ['FS.NOT_A_DIRECTORY', 'is not a directory'],
  EACCES: ['FS.PERMISSION_DENIED', 'permission denied'],
  EPERM: ['FS.PERMISSION_DENIED', 'operation not permitted'],
  ELOOP: ['PATH.SYMLINK', 'is a symlink; it is not followed'],
  EEXIST: ['FS.EXISTS', 'already exists'],
  ENOSPC: ['FS.NO_SPACE', 'no space left on device'],
  ENAMETOOLONG: ['PATH.INVALID', 'name too long'],
};

/** Maps a Node fs error to a {@link ToolError} naming the workspace-relative path, never the host path. */
export function fsError(err: unknown, rel: string): ToolError {
  if (err instanceof ToolError) return err;
  const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
  const known = ERRNO_CODES[code];
  return known
    ? new ToolError(known[0], `"${rel}" ${known[1]} (${code})`)
    : new ToolError('FS.IO_ERROR', `"${rel}": ${code}`);
}
