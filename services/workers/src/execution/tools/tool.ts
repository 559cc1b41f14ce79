import { z } from 'zod';
import { toFieldErrors } from '@warden/contracts';

/** A tool failure that ends the run `failed` with `{code, message}`; never a crash or a retry. */
export class ToolError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ToolError';
  }
}

/** What every tool gets besides its args. */
export interface ToolContext {
  /** Real path (symlinks resolved) of the workspace root. */
  root: string;
}

/** One executable tool. */
export interface Tool {
  name: string;
  /**
   * True if running it twice has the same effect as once. Only idempotent tools are re-run after
   * a crash mid-execution; the others end `outcome_unknown`.
   */
  idempotent: boolean;
  run(args: Record<string, unknown>, ctx: ToolContext): Promise<unknown>;
  /** Shrinks an output whose JSON exceeds `maxBytes` (e.g. cuts a file's content). */
  truncate?(output: unknown, maxBytes: number): unknown;
}

/** Parses tool args; `TOOL.INVALID_ARGS` naming every bad field otherwise. */
export function parseArgs<S extends z.ZodType>(tool: string, schema: S, args: unknown): z.infer<S> {
  const r = schema.safeParse(args);
  if (r.success) return r.data;
  const detail = toFieldErrors(r.error)
    .map((e) => `args${e.path ? '.' + e.path : ''}: ${e.message}`)
    .join('; ');
  throw new ToolError('TOOL.INVALID_ARGS', `${tool}: ${detail}`);
}

/** UTF-8 size of a value's JSON. */
export function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? 'null');
}
