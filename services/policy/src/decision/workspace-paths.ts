import { realpathSync, statSync } from 'node:fs';
import * as path from 'node:path';
import type { ResolvedPath, ResolvedPaths } from '@warden/policy-language';

/** How long the workspace root's real path is reused (a re-pointed workspace mount is seen within it). */
const ROOT_TTL_MS = 1000;

/**
 * Reads the workspace (`WARDEN_WORKSPACE`; the policy only reads it, production mounts it read-only)
 * to resolve path arguments the way the worker will: `..` applied first (the path is already
 * normalised), then the real path of the deepest existing ancestor (every symlink, chains included)
 * with the components that do not exist yet joined as they are. The pure evaluator only ever sees
 * the result, recorded in the input, so replay reads no disk.
 *
 * A workspace that does not exist yet holds no links: every path is its own real path.
 *
 * The reads are synchronous on purpose: `realpath(3)` and `stat(2)` of a local path take microseconds,
 * while the promise API hands each one to libuv's thread pool and back — two thread wake-ups per call,
 * which on a VM cost 0.2–0.5 ms of CPU each, and were 8 % of the policy's CPU per run (bench/hops.js
 * with BENCH_CPU_PROF). The workspace is a local mount (read-only in production); on a slow network
 * filesystem these calls would stall the event loop instead.
 */
export class WorkspacePaths {
  private readonly dir: string;
  /** The workspace's own real path, read at most once a second (every decision with a path needs it). */
  private root?: { real: string; at: number };

  constructor(dir: string) {
    this.dir = path.resolve(dir);
  }

  private realRoot(): string {
    const now = Date.now();
    if (this.root && now - this.root.at < ROOT_TTL_MS) return this.root.real;
    const real = realpathSync.native(this.dir);
    this.root = { real, at: now };
    return real;
  }

  /**
   * Resolves normalised workspace paths (`.` is the root).
   * @example await paths.resolve(['vlink/sneaky.yaml']) // { 'vlink/sneaky.yaml': { real: 'prod/sneaky.yaml' } }
   */
  async resolve(paths: readonly string[]): Promise<ResolvedPaths> {
    const out: ResolvedPaths = {};
    if (!paths.length) return out;
    let root: string | undefined;
    try {
      root = this.realRoot();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
      for (const p of paths) out[p] = code === 'ENOENT' ? { real: p } : { error: code };
      return out;
    }
    for (const p of paths) out[p] = resolveOne(root, p);
    return out;
  }
}

/** One path: see {@link WorkspacePaths.resolve}. Exported for tests. */
export function resolveOne(root: string, rel: string): ResolvedPath {
  const tail: string[] = [];
  let cur = path.join(root, rel);
  for (;;) {
    let real: string;
    try {
      real = realpathSync.native(cur);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || cur === root) return { error: code };
      tail.push(path.basename(cur));
      cur = path.dirname(cur);
      continue;
    }
    if (real !== root && !real.startsWith(root + path.sep)) return { outside: true };
    const full = tail.length ? path.join(real, ...tail.reverse()) : real;
    const relative = path.relative(root, full).split(path.sep).join('/') || '.';
    if (tail.length) return { real: relative };
    // an existing file: another name of it (a hard link) may be anywhere, prod/ or outside
    try {
      const st = statSync(full);
      return st.isFile() && st.nlink > 1 ? { real: relative, links: st.nlink } : { real: relative };
    } catch (err) {
      return { error: (err as NodeJS.ErrnoException).code ?? 'EIO' };
    }
  }
}
