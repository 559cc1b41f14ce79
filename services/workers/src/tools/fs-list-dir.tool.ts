import * as path from 'node:path';
import { z } from 'zod';
import { FsListDirArgs as Args } from '@warden/contracts';
import { fsError, resolveExisting } from './path-safety';
import { ToolError, jsonBytes, parseArgs, type Tool, type ToolContext } from './domain/tool';
import { fsOps } from './fs-ops';

export interface DirEntry {
  name: string;
  type: 'file' | 'dir' | 'other';
  size: number;
}

/**
 * `fs.list_dir {path = '.'}` → `{entries: [{name, type, size}]}` sorted by name. Symlinks are
 * listed as `other` and not followed.
 */
export const listDirTool: Tool = {
  name: 'fs.list_dir',
  idempotent: true,
  args: Args,
  result: z.object({
    entries: z.array(z.object({ name: z.string(), type: z.enum(['file', 'dir', 'other']), size: z.number() })),
  }),
  async run(raw, ctx: ToolContext) {
    const args = parseArgs('fs.list_dir', Args, raw);
    const fs = fsOps();
    const real = await resolveExisting(ctx.root, args.path, ctx.constraints);
    try {
      const st = await fs.stat(real);
      if (!st.isDirectory()) throw new ToolError('FS.NOT_A_DIRECTORY', `"${args.path}" is not a directory`);
      const dirents = await fs.readdir(real);
      const entries: DirEntry[] = [];
      for (const d of dirents) {
        const type = d.isFile() ? 'file' : d.isDirectory() ? 'dir' : 'other';
        // an entry removed while listing is simply reported with size 0
        const size = await fs.lstat(path.join(real, d.name)).then(
          (s) => (type === 'file' ? s.size : 0),
          () => 0,
        );
        entries.push({ name: d.name, type, size });
      }
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      return { entries };
    } catch (err) {
      throw fsError(err, args.path);
    }
  },
  truncate(output, maxBytes) {
    const entries = (output as { entries: DirEntry[] }).entries;
    // the largest prefix of entries that fits
    let lo = 0;
    let hi = entries.length;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (jsonBytes({ entries: entries.slice(0, mid) }) <= maxBytes) lo = mid;
      else hi = mid - 1;
    }
    return { entries: entries.slice(0, lo) };
  },
};
