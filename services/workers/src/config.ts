import { hostname } from 'node:os';
import * as path from 'node:path';
import { z } from 'zod';
import { BaseEnv, parseEnv, port } from '@warden/runtime';
import type { ToolSettings } from './execution/tools/tool';

const ROLE = /^[a-z][a-z0-9_-]*$/;
const list = z
  .string()
  .default('')
  .transform((s) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean),
  );
const bool = z
  .enum(['true', 'false', '1', '0', ''])
  .default('false')
  .transform((v) => v === 'true' || v === '1');

/** The one place workers reads process.env. */
export const WorkersEnv = BaseEnv.extend({
  WORKERS_PORT: port(7105),
  /** Roles this process executes for; one durable consumer each. */
  WORKER_ROLES: z
    .string()
    .default('dev,research,outreach')
    .transform((s) => [
      ...new Set(
        s
          .split(',')
          .map((r) => r.trim())
          .filter(Boolean),
      ),
    ])
    .pipe(
      z
        .array(z.string().regex(ROLE, 'each role must be lowercase letters, digits, - or _'))
        .min(1, 'name at least one role'),
    ),
  /** Identifies this process in `run_started` and the executions table. */
  WORKER_ID: z
    .string()
    .min(1)
    .max(200)
    .default(() => `${hostname()}-${process.pid}`),
  /** Tools running at once per batch of commands (a role has up to two batches in flight). */
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(8),
  /** `process`: every execution in a sandbox process; `inline`: in the worker (development/benchmarks only). */
  WORKER_SANDBOX: z.enum(['process', 'inline']).default('process'),
  /** Executions one sandbox process serves before it is replaced (tools that start programs: always 1). */
  WORKER_SANDBOX_REUSE: z.coerce.number().int().min(1).max(100_000).default(100),
  /** Idle sandboxes kept started per pool (with and without network). */
  WORKER_SANDBOX_WARM: z.coerce.number().int().min(0).max(64).default(2),
  /** prlimit of each sandbox: address space (Node needs ~1 GB of it), CPU seconds, processes, file size. */
  WORKER_SANDBOX_MEMORY_MB: z.coerce.number().int().min(256).default(2048),
  WORKER_SANDBOX_CPU_SECONDS: z.coerce.number().int().min(1).default(300),
  /**
   * Processes and threads of the sandbox user (RLIMIT_NPROC counts threads, and every sandbox is a
   * Node process of about 11): also `pids.max` of all the worker's sandboxes together.
   */
  WORKER_SANDBOX_NPROC: z.coerce.number().int().min(1).default(4096),
  /** Memory of all the worker's sandboxes together (cgroup v1 `memory.limit_in_bytes`), MB. */
  WORKER_SANDBOX_TOTAL_MEMORY_MB: z.coerce.number().int().min(256).default(8192),
  WORKER_SANDBOX_FSIZE_MB: z.coerce.number().int().min(1).default(64),
  /** `user[:group]` sandboxes run as when the worker is root (owner of the workspace). */
  WORKER_SANDBOX_USER: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)?$/)
    .optional(),
  /** Wall-clock budget of one execution; past it the sandbox's process group is killed. */
  WORKER_TOOL_TIMEOUT_MS: z.coerce.number().int().min(100).default(60_000),
  /** `role=pattern,pattern;role=...` replacing the default tools of the roles it names. */
  WORKER_ROLE_TOOLS: z
    .string()
    .optional()
    .transform((s, ctx) => {
      if (!s) return {};
      const out: Record<string, string[]> = {};
      for (const part of s
        .split(';')
        .map((p) => p.trim())
        .filter(Boolean)) {
        const m = /^([a-z][a-z0-9_-]*)=(.+)$/.exec(part);
        if (!m) {
          ctx.addIssue({ code: 'custom', message: `"${part}" is not role=tool,tool` });
          return z.NEVER;
        }
        out[m[1]!] = m[2]!
          .split(',')
          .map((t) => t.trim())
          .filter(Boolean);
      }
      return out;
    }),
  WORKER_HTTP_ALLOWED_HOSTS: list,
  WORKER_HTTP_ALLOW_PRIVATE: bool,
  WORKER_HTTP_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(1)
    .default(1024 * 1024),
  WORKER_HTTP_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
  /** `name=url,name=url`: the only places `git.push` pushes to. */
  WORKER_GIT_REMOTES: z
    .string()
    .default('')
    .transform((s, ctx) => {
      const out: Record<string, string> = {};
      for (const part of s
        .split(',')
        .map((p) => p.trim())
        .filter(Boolean)) {
        const i = part.indexOf('=');
        if (i <= 0) {
          ctx.addIssue({ code: 'custom', message: `"${part}" is not name=url` });
          return z.NEVER;
        }
        out[part.slice(0, i)] = part.slice(i + 1);
      }
      return out;
    }),
  WORKER_GIT_AUTHOR: z.string().default('Warden worker <warden@localhost>'),
  WORKER_SHELL_ALLOW: list,
  WORKER_SMTP_URL: z
    .string()
    .regex(/^smtps?:\/\//, 'must be smtp:// or smtps://')
    .optional(),
  WORKER_EMAIL_OUTBOX: z.string().optional(),
  WORKER_EMAIL_FROM: z.string().default('warden@localhost'),
  WORKER_PR_ENDPOINT: z.url().optional(),
  /** Where `pr.close` POSTs `{number|id|url, comment?}`. */
  WORKER_PR_CLOSE_ENDPOINT: z.url().optional(),
  /** `target=url,target=url` for `deploy.<target>`. */
  WORKER_DEPLOY_ENDPOINTS: z
    .string()
    .default('')
    .transform(
      (s) =>
        Object.fromEntries(
          s
            .split(',')
            .map((p) => p.trim())
            .filter((p) => p.includes('='))
            .map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)]),
        ) as Record<string, string>,
    ),
  /** Bearer token sent to the PR and deploy endpoints. */
  WORKER_ENDPOINT_TOKEN: z.string().optional(),
  /** YAML file of upstream MCP servers (CONTRACT §7); this worker serves those of its roles. */
  WARDEN_MCP_SERVERS: z.string().min(1).optional(),
  /** Pin a server's tools the first time it is seen (trust on first use); `false`: an admin pins first. */
  MCP_TRUST_ON_FIRST_USE: z
    .enum(['true', 'false', '1', '0'])
    .default('true')
    .transform((v) => v === 'true' || v === '1'),
});
export type WorkersConfig = z.infer<typeof WorkersEnv>;

export function loadConfig(env: NodeJS.ProcessEnv | Record<string, string | undefined> = process.env): WorkersConfig {
  return parseEnv(WorkersEnv, env);
}

/** The tool settings a sandbox gets with each execution. */
export function toolSettings(config: WorkersConfig): ToolSettings {
  const author = /^(.*?)\s*<([^>]+)>$/.exec(config.WORKER_GIT_AUTHOR);
  return {
    http: {
      allowedHosts: config.WORKER_HTTP_ALLOWED_HOSTS,
      allowPrivate: config.WORKER_HTTP_ALLOW_PRIVATE,
      maxBytes: config.WORKER_HTTP_MAX_BYTES,
      timeoutMs: config.WORKER_HTTP_TIMEOUT_MS,
    },
    git: {
      remotes: config.WORKER_GIT_REMOTES,
      authorName: author?.[1] || config.WORKER_GIT_AUTHOR,
      authorEmail: author?.[2] ?? 'warden@localhost',
    },
    shell: { allow: config.WORKER_SHELL_ALLOW, timeoutMs: config.WORKER_TOOL_TIMEOUT_MS },
    email: {
      smtpUrl: config.WORKER_SMTP_URL,
      outbox: config.WORKER_EMAIL_OUTBOX ? path.resolve(config.WORKER_EMAIL_OUTBOX) : undefined,
      from: config.WORKER_EMAIL_FROM,
      timeoutMs: config.WORKER_HTTP_TIMEOUT_MS,
    },
    endpoints: {
      pr: config.WORKER_PR_ENDPOINT,
      prClose: config.WORKER_PR_CLOSE_ENDPOINT,
      deploy: config.WORKER_DEPLOY_ENDPOINTS,
      token: config.WORKER_ENDPOINT_TOKEN,
      timeoutMs: config.WORKER_HTTP_TIMEOUT_MS,
    },
    maxProgramOutput: 256 * 1024,
  };
}
