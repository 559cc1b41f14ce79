import { z } from 'zod';
import { FsReadFileArgs as Args } from '@warden/contracts';
import { OPEN_READ, assertOpenedInside, assertPlainFile, fsError, resolveExisting } from './path-safety';
import { ToolError, jsonBytes, parseArgs, type Tool, type ToolContext } from './domain/tool';
import { fsOps } from './fs-ops';

/** Files larger than this are refused rather than loaded (the output hash needs the whole content). */
export const MAX_READ_BYTES = 16 * 1024 * 1024;

export interface ReadFileOutput {
  content: string;
  bytes: number;
}

/** `fs.read_file {path, encoding?}` → `{content, bytes}`; `bytes` is the file's size. */
export const readFileTool: Tool = {
  name: 'fs.read_file',
  idempotent: true,
  args: Args,
  result: z.object({ content: z.string(), bytes: z.number().int() }),
  async run(raw, ctx: ToolContext): Promise<ReadFileOutput> {
    const args = parseArgs('fs.read_file', Args, raw);
    const fs = fsOps();
    const real = await resolveExisting(ctx.root, args.path, ctx.constraints);
    // never open a device: opening alone can have effects
    assertPlainFile(await fs.stat(real).catch((err: unknown) => Promise.reject(fsError(err, args.path))), args.path);
    const fh = await fs.open(real, OPEN_READ).catch((err: unknown) => {
      throw fsError(err, args.path);
    });
    try {
      await assertOpenedInside(ctx.root, fh.fd, args.path, ctx.constraints);
      const st = await fh.stat();
      assertPlainFile(st, args.path);
      if (st.isDirectory()) throw new ToolError('FS.IS_DIRECTORY', `"${args.path}" is a directory`);
      if (!st.isFile()) throw new ToolError('FS.NOT_A_FILE', `"${args.path}" is not a regular file`);
      if (st.size > MAX_READ_BYTES) {
        throw new ToolError('FS.TOO_LARGE', `"${args.path}" is ${st.size} bytes; the limit is ${MAX_READ_BYTES}`);
      }
      const buf = await fh.readFile();
      return { content: buf.toString(args.encoding === 'base64' ? 'base64' : 'utf8'), bytes: buf.length };
    } catch (err) {
      throw fsError(err, args.path);
    } finally {
      await fh.close().catch(() => undefined);
    }
  },
  truncate(output, maxBytes) {
    const o = output as ReadFileOutput;
    return { ...o, content: cutToFit(o.content, maxBytes - jsonBytes({ ...o, content: '' })) };
  },
};

/** The longest prefix of `s` (on a character boundary) whose JSON string takes at most `budget` bytes. */
export function cutToFit(s: string, budget: number): string {
  const bytes = Buffer.from(s, 'utf8');
  const prefix = (end: number): string => {
    // back up to a UTF-8 lead byte so no character is split
    while (end > 0 && end < bytes.length && (bytes[end]! & 0xc0) === 0x80) end--;
    return bytes.subarray(0, end).toString('utf8');
  };
  // JSON is never shorter than the raw bytes plus quotes, so the answer lies below `budget`
  let lo = 0;
  let hi = Math.min(bytes.length, Math.max(0, budget));
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (jsonBytes(prefix(mid)) <= budget) lo = mid;
    else hi = mid - 1;
  }
  return prefix(lo);
}
