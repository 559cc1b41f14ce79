import * as path from 'node:path';
import { z } from 'zod';
import { FsDeleteArgs as Args } from '@warden/contracts';
import { isInside, refuseGitInternal, resolveLexically } from './domain/path-rules';
import { assertAsJudged, fsError, resolveReal } from './path-safety';
import { ToolError, parseArgs, type Tool, type ToolContext } from './domain/tool';
import { fsOps } from './fs-ops';

/**
 * `fs.delete {path, recursive? = false}` → `{path, deleted: 'file'|'dir'|'symlink'}`. The parent is
 * resolved to its real path inside the workspace; the last component is never followed (deleting a
 * symlink removes the link, not what it points to), and a recursive delete does not follow symlinks
 * below it either. The workspace root itself cannot be deleted.
 */
export const deleteTool: Tool = {
  name: 'fs.delete',
  idempotent: false,
  args: Args,
  result: z.object({ path: z.string(), deleted: z.enum(['file', 'dir', 'symlink', 'other']) }),
  async run(raw, ctx: ToolContext) {
    const args = parseArgs('fs.delete', Args, raw);
    const abs = resolveLexically(ctx.root, args.path);
    if (abs === ctx.root) throw new ToolError('PATH.ROOT', 'the workspace root cannot be deleted');
    refuseGitInternal(ctx.root, abs, args.path);
    await assertAsJudged(ctx.root, abs, args.path, ctx.constraints);
    const parent = await resolveReal(ctx.root, path.dirname(abs), args.path);
    if (!parent.exists) throw new ToolError('FS.NOT_FOUND', `"${args.path}" does not exist`);
    const target = path.join(parent.real, path.basename(abs));
    if (!isInside(ctx.root, target) || target === ctx.root) {
      throw new ToolError('PATH.ESCAPE', `path "${args.path}" resolves outside the workspace`);
    }
    const fs = fsOps();
    try {
      const st = await fs.lstat(target);
      if (st.isSymbolicLink()) {
        await fs.unlink(target);
        return { path: args.path, deleted: 'symlink' };
      }
      if (st.isDirectory()) {
        if (!args.recursive) {
          throw new ToolError('FS.IS_DIRECTORY', `"${args.path}" is a directory; pass recursive: true to delete it`);
        }
        // fs.rm never follows symlinks inside the tree it removes
        await fs.rm(target, { recursive: true, force: false });
        return { path: args.path, deleted: 'dir' };
      }
      await fs.unlink(target);
      return { path: args.path, deleted: st.isFile() ? 'file' : 'other' };
    } catch (err) {
      throw fsError(err, args.path);
    }
  },
};
