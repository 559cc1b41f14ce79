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

/**
 * Worker-wide tool configuration (from `config.ts`, handed to the sandbox with each execution).
 * Plain JSON: it crosses the process boundary.
 */
export interface ToolSettings {
  http: {
    /** Hosts allowed when the decision's constraints name none (`*.example.com` matches subdomains). */
    allowedHosts: string[];
    /** Loopback, private, link-local and unique-local addresses may be reached. */
    allowPrivate: boolean;
    maxBytes: number;
    timeoutMs: number;
  };
  git: {
    /** Remotes `git.push` may push to: name → URL (the repository's own remote config is not used). */
    remotes: Record<string, string>;
    /** Identity of `git.commit`. */
    authorName: string;
    authorEmail: string;
  };
  shell: {
    /** Programs `shell.exec` may run (bare names looked up in PATH, or absolute paths). */
    allow: string[];
    timeoutMs: number;
  };
  email: {
    /** `smtp://[user:pass@]host:port` (or smtps://); unset means write to the outbox folder. */
    smtpUrl?: string;
    /** Directory (absolute) where `email.send` writes `.eml` files when no SMTP server is set. */
    outbox?: string;
    from: string;
    timeoutMs: number;
  };
  endpoints: {
    /** `pr.open` posts here. */
    pr?: string;
    /** `pr.close` posts here. */
    prClose?: string;
    /** `deploy.<target>` posts to `deploy[target]`. */
    deploy: Record<string, string>;
    /** Sent as `Authorization: Bearer` to those endpoints. */
    token?: string;
    timeoutMs: number;
  };
  /** Bytes of stdout/stderr kept from a program (git, shell). */
  maxProgramOutput: number;
}

/** What every tool gets besides its args. */
export interface ToolContext {
  /** Real path (symlinks resolved) of the workspace root. */
  root: string;
  /** The decision's `constraints` (e.g. `http_hosts`). */
  constraints?: Record<string, unknown>;
  settings?: ToolSettings;
  /** Aborted when the execution's wall-clock budget is spent. */
  signal?: AbortSignal;
  /** Running in a sandbox process: programs stay in its process group. */
  sandboxed?: boolean;
}

/** One executable tool. */
export interface Tool {
  name: string;
  /**
   * True if running it twice has the same effect as once. Only idempotent tools are re-run after
   * a crash mid-execution; the others end `outcome_unknown`.
   */
  idempotent: boolean;
  /** Needs the network (anything else runs in a sandbox without a network namespace). */
  network?: boolean;
  /** Starts programs: its sandbox process is used once and its whole process group killed after. */
  spawns?: boolean;
  /**
   * Runs in the worker process, not in a sandbox: it uses a session the worker holds (an upstream
   * MCP server's; the server process itself is what runs under the sandbox limits).
   */
  inWorker?: boolean;
  /** Schema of `args` (documentation and validation). */
  args?: z.ZodType;
  /** Schema of the output. */
  result?: z.ZodType;
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

/** The settings, or a clear error when a tool that needs them runs without. */
export function settingsOf(ctx: ToolContext, tool: string): ToolSettings {
  if (!ctx.settings) throw new ToolError('TOOL.NOT_CONFIGURED', `${tool} needs worker tool settings`);
  return ctx.settings;
}

/** Settings with the defaults `config.ts` uses; tests override parts. */
export function defaultToolSettings(over: Partial<ToolSettings> = {}): ToolSettings {
  return {
    http: { allowedHosts: [], allowPrivate: false, maxBytes: 1024 * 1024, timeoutMs: 10_000 },
    git: { remotes: {}, authorName: 'Warden worker', authorEmail: 'warden@localhost' },
    shell: { allow: [], timeoutMs: 30_000 },
    email: { from: 'warden@localhost', timeoutMs: 10_000 },
    endpoints: { deploy: {}, timeoutMs: 10_000 },
    maxProgramOutput: 256 * 1024,
    ...over,
  };
}
