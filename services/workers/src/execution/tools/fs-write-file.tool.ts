import { constants, promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { z } from 'zod';
import { FsWriteFileArgs as Args } from '@warden/contracts';
import { OPEN_WRITE, assertOpenedInside, assertPlainFile, fsError, resolveForWrite } from './path-safety';
import { ToolError, parseArgs, type Tool, type ToolContext } from './tool';

/** Tries of the create-or-open race (the file appearing or vanishing between the two opens). */
const OPEN_TRIES = 5;

/**
 * Opens `target` for writing and says whether this call created it: an exclusive create first, then
 * (it exists) a plain open without create. Both never follow a final symlink.
 */
async function openForWrite(target: string, rel: string): Promise<{ fh: FileHandle; created: boolean }> {
  for (let i = 0; ; i++) {
    try {
      return { fh: await fs.open(target, OPEN_WRITE | constants.O_EXCL, 0o644), created: true };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fsError(err, rel);
    }
    try {
      return { fh: await fs.open(target, OPEN_WRITE & ~constants.O_CREAT), created: false };
    } catch (err) {
      // deleted in between: create it after all
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || i + 1 >= OPEN_TRIES) throw fsError(err, rel);
    }
  }
}

/**
 * `fs.write_file {path, content, create_dirs? = true}` → `{path, bytes_written, created}`. Replaces the
 * file's content; never follows a symlink at the final component. `created` says whether the run
 * created the file (so flagging the run can propose `fs.delete`) or replaced an existing one. Not
 * idempotent as far as the run is concerned (someone may change the file in between), so never re-run
 * after a crash.
 */
export const writeFileTool: Tool = {
  name: 'fs.write_file',
  idempotent: false,
  args: Args,
  result: z.object({ path: z.string(), bytes_written: z.number().int(), created: z.boolean() }),
  async run(raw, ctx: ToolContext) {
    const args = parseArgs('fs.write_file', Args, raw);
    const target = await resolveForWrite(ctx.root, args.path, args.create_dirs, ctx.constraints);
    const data = Buffer.from(args.content, args.encoding === 'base64' ? 'base64' : 'utf8');
    const { fh, created } = await openForWrite(target, args.path);
    try {
      // verify before truncating, so a swapped path never damages a file outside the workspace
      await assertOpenedInside(ctx.root, fh.fd, args.path, ctx.constraints);
      const st = await fh.stat();
      assertPlainFile(st, args.path);
      if (!st.isFile()) throw new ToolError('FS.NOT_A_FILE', `"${args.path}" is not a regular file`);
      await fh.truncate(0);
      await fh.writeFile(data);
      await fh.sync();
    } catch (err) {
      throw fsError(err, args.path);
    } finally {
      await fh.close().catch(() => undefined);
    }
    return { path: args.path, bytes_written: data.length, created };
  },
};
