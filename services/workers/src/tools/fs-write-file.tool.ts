import { constants } from 'node:fs';
import { z } from 'zod';
// argument schemas live in libs/contracts (tools.ts): workers and policy's rewrite checks share them
import { FsWriteFileArgs as Args } from '@warden/contracts';
import { OPEN_WRITE, assertOpenedInside, assertPlainFile, fsError, resolveForWrite } from './path-safety';
import { refuseGitLayout } from './git-layout';
import { ToolError, parseArgs, type Tool, type ToolContext } from './domain/tool';
import { fsOps, type OpenFile } from './fs-ops';

/** Largest previous content `fs.write_file` reports (the whole result stays under the 64 KiB output cap). */
export const PREVIOUS_CONTENT_MAX = 32 * 1024;

/** What an overwrite reports of the content it replaced. */
type Previous = {
  previous_bytes?: number;
  previous_content?: string;
  previous_truncated?: boolean;
  previous_binary?: boolean;
};

/**
 * The replaced content, so a review's "overwrite → restore the previous content" compensation can
 * fire: whole and UTF-8 only (a cut or re-encoded restore would be a second damage); otherwise its
 * size with `previous_truncated` (over {@link PREVIOUS_CONTENT_MAX}) or `previous_binary`.
 */
async function previousContent(fh: OpenFile, size: number): Promise<Previous> {
  if (size > PREVIOUS_CONTENT_MAX) return { previous_bytes: size, previous_truncated: true };
  const buf = Buffer.alloc(size);
  const { bytesRead } = await fh.read(buf, 0, size, 0);
  const old = buf.subarray(0, bytesRead);
  const text = old.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(old)) return { previous_bytes: bytesRead, previous_binary: true };
  return { previous_bytes: bytesRead, previous_content: text };
}

/** Tries of the create-or-open race (the file appearing or vanishing between the two opens). */
const OPEN_TRIES = 5;

/**
 * Opens `target` for writing and says whether this call created it: an exclusive create first, then
 * (it exists) a plain open without create. Both never follow a final symlink.
 */
async function openForWrite(target: string, rel: string): Promise<{ fh: OpenFile; created: boolean }> {
  const fs = fsOps();
  for (let i = 0; ; i++) {
    try {
      return { fh: await fs.open(target, OPEN_WRITE | constants.O_EXCL, 0o644), created: true };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fsError(err, rel);
    }
    try {
      // read-write: the previous content is read through the same verified descriptor
      const flags = (OPEN_WRITE & ~constants.O_CREAT & ~constants.O_WRONLY) | constants.O_RDWR;
      return { fh: await fs.open(target, flags), created: false };
    } catch (err) {
      // deleted in between: create it after all
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || i + 1 >= OPEN_TRIES) throw fsError(err, rel);
    }
  }
}

/**
 * `fs.write_file {path, content, create_dirs? = true}` → `{path, bytes_written, created}`. Replaces the
 * file's content; never follows a symlink at the final component. `created` says whether the run
 * created the file (so flagging the run can propose `fs.delete`) or replaced an existing one (then
 * `previous_content`, so flagging can propose restoring it; see {@link previousContent}). Writes that
 * would make or touch a git repository layout are refused (`refuseGitLayout`). Not
 * idempotent as far as the run is concerned (someone may change the file in between), so never re-run
 * after a crash.
 */
export const writeFileTool: Tool = {
  name: 'fs.write_file',
  idempotent: false,
  args: Args,
  result: z.object({
    path: z.string(),
    bytes_written: z.number().int(),
    created: z.boolean(),
    previous_bytes: z.number().int().optional(),
    previous_content: z.string().optional(),
    previous_truncated: z.boolean().optional(),
    previous_binary: z.boolean().optional(),
  }),
  async run(raw, ctx: ToolContext) {
    const args = parseArgs('fs.write_file', Args, raw);
    const target = await resolveForWrite(ctx.root, args.path, args.create_dirs, ctx.constraints);
    await refuseGitLayout(ctx.root, target, args.path);
    const data = Buffer.from(args.content, args.encoding === 'base64' ? 'base64' : 'utf8');
    const { fh, created } = await openForWrite(target, args.path);
    let previous: Previous = {};
    try {
      // verify before truncating, so a swapped path never damages a file outside the workspace
      await assertOpenedInside(ctx.root, fh.fd, args.path, ctx.constraints);
      const st = await fh.stat();
      assertPlainFile(st, args.path);
      if (!st.isFile()) throw new ToolError('FS.NOT_A_FILE', `"${args.path}" is not a regular file`);
      if (!created) previous = await previousContent(fh, st.size);
      await fh.truncate(0);
      await fh.writeFile(data);
      await fh.sync();
    } catch (err) {
      throw fsError(err, args.path);
    } finally {
      await fh.close().catch(() => undefined);
    }
    return { path: args.path, bytes_written: data.length, created, ...previous };
  },
};
