import { hostname } from 'node:os';
import * as path from 'node:path';
import { z } from 'zod';
import { BaseEnv, envFlag, parseEnv, port } from '@warden/runtime';
import type { ToolSettings } from './tools/domain/tool';

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
  WORKERS_PORT: port(7105).describe('HTTP port (health and metrics)'),
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
    )
    .describe('roles this worker process executes for; one durable consumer each'),
  WORKER_ID: z
    .string()
    .min(1)
    .max(200)
    .default(() => `${hostname()}-${process.pid}`)
    .describe('identifies this process in `run_started` and the executions table'),
  WORKER_CONCURRENCY: z.coerce
    .number()
    .int()
    .min(1)
    .max(256)
    .default(8)
    .describe('tools running at once per batch of commands (a role has up to two batches in flight)'),
  WORKER_SANDBOX: z
    .enum(['process', 'inline'])
    .default('process')
    .describe(
      '`process`: every execution in a sandbox process; `inline`: in the worker, without isolation (development and benchmarks only; warned at start)',
    ),
  WORKER_SANDBOX_REUSE: z.coerce
    .number()
    .int()
    .min(1)
    .max(100_000)
    .default(1000)
    .describe(
      "executions one sandbox process serves before it is replaced (tools that start programs: always 1; the others run only Warden code, so a reused sandbox holds nothing an execution brought in). A start costs 200–350 ms of CPU: at 100 it was a third of the sandboxes' CPU per run",
    ),
  WORKER_SANDBOX_WARM: z.coerce
    .number()
    .int()
    .min(0)
    .max(64)
    .default(2)
    .describe(
      'sandboxes kept started per pool (with and without network), at least; a pool grows past it while slow executions hold every sandbox (`WORKER_SANDBOX_GROW_AFTER_MS`), and by one per half second while executions queue one or more at a time on average',
    ),
  WORKER_SANDBOX_GROW_AFTER_MS: z.coerce
    .number()
    .int()
    .min(0)
    .max(60_000)
    .default(100)
    .describe(
      'how long a pool must be stalled (executions waiting, no sandbox back, ready or started) before it starts one more; then one more per further stall (0: one for every waiting execution at once). A start costs 200–350 ms of CPU; most tools take a millisecond or two',
    ),
  WORKER_SANDBOX_MEMORY_MB: z.coerce
    .number()
    .int()
    .min(256)
    .default(2048)
    .describe('prlimit address space of each sandbox, MB (Node needs ~1 GB of it to start)'),
  WORKER_SANDBOX_CPU_SECONDS: z.coerce
    .number()
    .int()
    .min(1)
    .default(300)
    .describe('prlimit CPU seconds per sandbox process'),
  WORKER_SANDBOX_NPROC: z.coerce
    .number()
    .int()
    .min(1)
    .default(4096)
    .describe(
      "prlimit processes and threads of the sandbox user (RLIMIT_NPROC counts threads, and every sandbox is a Node process of about 11), and `pids.max` of all the worker's sandboxes together",
    ),
  WORKER_SANDBOX_TOTAL_MEMORY_MB: z.coerce
    .number()
    .int()
    .min(256)
    .default(8192)
    .describe("memory of all the worker's sandboxes together (cgroup v1 `memory.limit_in_bytes`), MB"),
  WORKER_SANDBOX_FSIZE_MB: z.coerce
    .number()
    .int()
    .min(1)
    .default(64)
    .describe('prlimit largest file a sandbox may write, MB'),
  WORKER_SANDBOX_USER: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)?$/)
    .optional()
    .describe(
      '`user[:group]` sandboxes run as when the worker is root (owner of the workspace). Unset: `warden-sandbox`, created when missing; with `NODE_ENV=production` a root worker that cannot switch users refuses to start',
    ),
  WORKER_TOOL_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(100)
    .default(60_000)
    .describe(
      "wall-clock budget of one execution (also `shell.exec`'s maximum); past it the sandbox's process group is killed (`TOOL.TIMEOUT`)",
    ),
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
    })
    .describe(
      '`role=pattern,pattern;role=...` replacing the default tools of the roles it names (the built-in table is `DEFAULT_ROLE_TOOLS` in `libs/contracts/src/tools.ts`)',
    ),
  WORKER_HTTP_ALLOWED_HOSTS: list.describe(
    'hosts `http.get` / `http.request` may reach when the decision has no `constraints.http_hosts` (comma-separated; `*.example.com` matches subdomains)',
  ),
  WORKER_HTTP_ALLOW_PRIVATE: bool.describe('allow loopback, private, link-local and CGNAT addresses'),
  WORKER_HTTP_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(1)
    .default(1024 * 1024)
    .describe('response body cap, bytes'),
  WORKER_HTTP_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(100)
    .default(10_000)
    .describe('time cap of http, SMTP and PR/deploy endpoint calls'),
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
    })
    .describe('`name=url,...`: the only places `git.push` pushes to'),
  WORKER_GIT_AUTHOR: z.string().default('Warden worker <warden@localhost>').describe('commit identity, `Name <email>`'),
  WORKER_SHELL_ALLOW: list.describe('programs `shell.exec` may run (comma-separated names or absolute paths)'),
  WORKER_SMTP_URL: z
    .string()
    .regex(/^smtps?:\/\//, 'must be smtp:// or smtps://')
    .optional()
    .describe(
      '`smtp://[user:pass@]host:port` (or `smtps://`) for `email.send`; unset: `.eml` files in `WORKER_EMAIL_OUTBOX`',
    ),
  WORKER_EMAIL_OUTBOX: z
    .string()
    .optional()
    .describe(
      'folder for `.eml` files when there is no SMTP server (drafts go to its `drafts/`); `npm start` uses `var/outbox`',
    ),
  WORKER_EMAIL_FROM: z.string().default('warden@localhost').describe('sender of every email'),
  WORKER_PR_ENDPOINT: z.url().optional().describe('URL `pr.open` POSTs to'),
  WORKER_PR_CLOSE_ENDPOINT: z.url().optional().describe('URL `pr.close` POSTs `{number|id|url, comment?}` to'),
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
    )
    .describe('`target=url,...` for `deploy.<target>`'),
  WORKER_ENDPOINT_TOKEN: z.string().optional().describe('Bearer token sent to the PR and deploy endpoints'),
  WARDEN_MCP_SERVERS: z
    .string()
    .min(1)
    .optional()
    .describe("YAML file of upstream MCP servers (contract §7); this worker holds the sessions of its roles' servers"),
  MCP_TRUST_ON_FIRST_USE: envFlag(true).describe(
    "pin a server's tools the first time it is seen (trust on first use); `false`: refused until an admin pins",
  ),
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
