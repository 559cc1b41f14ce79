import { z } from 'zod';

/*
 * The one definition of every worker tool's arguments and of which roles run which tools. The
 * workers validate args with these schemas before a tool runs; policy checks every rewrite a compute
 * recipe makes against them (`warden policy test`, `PUT /v1/policy`), so a bundle can never decide
 * an action no worker can execute.
 */

const Encoding = z.enum(['utf8', 'utf-8', 'base64']);

/** `fs.read_file {path, encoding?}`. */
export const FsReadFileArgs = z.strictObject({ path: z.string(), encoding: Encoding.default('utf8') });
/** `fs.write_file {path, content, encoding?, create_dirs?}`. */
export const FsWriteFileArgs = z.strictObject({
  path: z.string(),
  content: z.string(),
  encoding: Encoding.default('utf8'),
  create_dirs: z.boolean().default(true),
});
/** `fs.list_dir {path?}`. */
export const FsListDirArgs = z.strictObject({ path: z.string().default('.') });
/** `fs.delete {path, recursive?}` (`recursive` is needed to delete a directory). */
export const FsDeleteArgs = z.strictObject({ path: z.string(), recursive: z.boolean().default(false) });

/** Branch and ref names: no leading dash or plus, no `..`, no colon (refspecs), no control characters. */
export const GitRefName = z
  .string()
  .min(1)
  .max(200)
  .regex(/^(?![-+./])(?!.*\.\.)(?!.*[/.]$)[A-Za-z0-9._/-]+$/, 'must be a plain branch name');
const GitFlags = z.array(z.string()).max(10).default([]);
/** `git.status {flags?}`. */
export const GitStatusArgs = z.strictObject({ flags: GitFlags });
/** `git.diff {flags?, paths?}`. */
export const GitDiffArgs = z.strictObject({ flags: GitFlags, paths: z.array(z.string()).max(100).default([]) });
/** `git.add {flags?, paths?}`. */
export const GitAddArgs = z.strictObject({ flags: GitFlags, paths: z.array(z.string()).max(1000).default([]) });
/** `git.commit {flags?, message}`. */
export const GitCommitArgs = z.strictObject({ flags: GitFlags, message: z.string().min(1).max(10_000) });
/** `git.revert {flags?, commit}`. */
export const GitRevertArgs = z.strictObject({
  flags: GitFlags,
  commit: z.string().regex(/^[0-9a-f]{7,64}$/, 'must be a commit id (7 to 64 lowercase hex characters)'),
});
/**
 * `git.push {flags?, remote, branch, force_with_lease?}`. `force_with_lease: true` (what the
 * `force_with_lease` recipe makes of a force push) overwrites the remote branch only if it is where
 * the worker last saw it.
 */
export const GitPushArgs = z.strictObject({
  flags: GitFlags,
  remote: z.string().min(1),
  branch: GitRefName,
  force_with_lease: z.boolean().optional(),
});
/** `git.branch {flags?, name?, switch?}`. */
export const GitBranchArgs = z.strictObject({
  flags: GitFlags,
  name: GitRefName.optional(),
  switch: z.boolean().default(false),
});

const HttpHeaders = z.record(z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/), z.string().max(8192)).default({});
/** `http.get {url, headers?, encoding?}`. */
export const HttpGetArgs = z.strictObject({
  url: z.string().url(),
  headers: HttpHeaders,
  encoding: z.enum(['utf8', 'base64']).default('utf8'),
});
/** `http.request {method, url, headers?, body?, encoding?}`. */
export const HttpRequestArgs = HttpGetArgs.extend({
  method: z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']),
  body: z
    .string()
    .max(1024 * 1024)
    .optional(),
});

/** `shell.exec {argv, cwd?, stdin?, timeout_ms?}`. */
export const ShellExecArgs = z.strictObject({
  argv: z.array(z.string().max(8192)).min(1).max(256),
  /** Workspace-relative working directory. */
  cwd: z.string().default('.'),
  stdin: z
    .string()
    .max(1024 * 1024)
    .optional(),
  timeout_ms: z.number().int().positive().optional(),
});

const EmailAddress = z.email();
const EmailRecipients = z.union([EmailAddress, z.array(EmailAddress).min(1).max(50)]);
/** `email.send` and `email.draft`: `{to, cc?, subject, text?|html?, reply_to?}`. */
export const EmailArgs = z
  .strictObject({
    to: EmailRecipients,
    cc: EmailRecipients.optional(),
    subject: z.string().min(1).max(998),
    text: z
      .string()
      .max(1024 * 1024)
      .optional(),
    html: z
      .string()
      .max(1024 * 1024)
      .optional(),
    reply_to: EmailAddress.optional(),
  })
  .refine((a) => a.text !== undefined || a.html !== undefined, { message: 'give text or html', path: ['text'] });

/**
 * `pr.open {title, body?, head, base?, draft?, push_head?, remote?}`. With `push_head: true` the
 * worker first pushes the workspace's HEAD to the new branch `head` on `remote` (default `origin`,
 * one of `WORKER_GIT_REMOTES`; never a force push), then opens the pull request from it: what the
 * `pull_request` recipe makes of a push to a protected branch. `head` must then be a plain branch name.
 */
export const PrOpenArgs = z.strictObject({
  title: z.string().min(1).max(300),
  body: z.string().max(65_536).default(''),
  head: z.string().min(1).max(200),
  base: z.string().min(1).max(200).default('main'),
  draft: z.boolean().default(false),
  push_head: z.boolean().default(false),
  remote: z.string().min(1).max(100).optional(),
});

const PrRef = {
  number: z.number().int().positive().optional(),
  id: z.string().optional(),
  url: z.string().optional(),
};
/** `pr.close {number | id | url, comment?}`. */
export const PrCloseArgs = z
  .strictObject({ ...PrRef, comment: z.string().max(65_536).optional() })
  .refine((a) => a.number !== undefined || a.id !== undefined || a.url !== undefined, {
    message: 'name the pull request: number, id or url',
  });

/** `deploy.<target> {ref, service?, params?}`. */
export const DeployArgs = z.strictObject({
  ref: z.string().min(1).max(200),
  service: z.string().min(1).max(200).optional(),
  params: z.record(z.string(), z.json()).default({}),
});
/** `deploy.canary {ref, percent, service?, params?}`: the share of traffic (1–100 %) the new ref gets. */
export const DeployCanaryArgs = DeployArgs.extend({ percent: z.number().min(1).max(100) });

/** Argument schemas of the tools with a fixed name. `deploy.<target>` is {@link DeployArgs}. */
export const TOOL_ARGS = {
  'fs.read_file': FsReadFileArgs,
  'fs.write_file': FsWriteFileArgs,
  'fs.list_dir': FsListDirArgs,
  'fs.delete': FsDeleteArgs,
  'git.status': GitStatusArgs,
  'git.diff': GitDiffArgs,
  'git.add': GitAddArgs,
  'git.commit': GitCommitArgs,
  'git.revert': GitRevertArgs,
  'git.push': GitPushArgs,
  'git.branch': GitBranchArgs,
  'http.get': HttpGetArgs,
  'http.request': HttpRequestArgs,
  'shell.exec': ShellExecArgs,
  'email.send': EmailArgs,
  'email.draft': EmailArgs,
  'pr.open': PrOpenArgs,
  'pr.close': PrCloseArgs,
  'deploy.canary': DeployCanaryArgs,
} as const satisfies Record<string, z.ZodType>;

/**
 * MCP tool annotations (hints for a client, never trusted by Warden: policy decides what runs).
 * `readOnlyHint`: changes nothing; `destructiveHint`: may overwrite or remove; `idempotentHint`: the
 * same call twice has no further effect; `openWorldHint`: reaches beyond the workspace.
 */
export interface ToolAnnotations {
  readOnlyHint: boolean;
  destructiveHint: boolean;
  idempotentHint: boolean;
  openWorldHint: boolean;
}

/** What a model is told about a worker tool (the MCP gateway lists these) and its annotations. */
export interface ToolInfo {
  description: string;
  annotations: ToolAnnotations;
}

const ann = (readOnly: boolean, destructive: boolean, idempotent: boolean, openWorld: boolean): ToolAnnotations => ({
  readOnlyHint: readOnly,
  destructiveHint: destructive,
  idempotentHint: idempotent,
  openWorldHint: openWorld,
});

const JUDGED =
  'Every call is judged by Warden policy before it runs: it may be allowed, denied, rewritten to a safer ' +
  'action, or held for a human approval (the call then waits).';

/**
 * Descriptions written for a model, and MCP annotations, of every worker tool with a fixed name
 * (`deploy.<target>`: {@link DEPLOY_TOOL_INFO}). Paths are relative to the workspace root.
 */
export const TOOL_INFO = {
  'fs.read_file': {
    description: `Read a file of the workspace. Returns {content, bytes}; encoding "base64" for binary files. ${JUDGED}`,
    annotations: ann(true, false, true, false),
  },
  'fs.write_file': {
    description:
      'Write (create or overwrite) a file of the workspace with the given content; parent directories are ' +
      `created unless create_dirs is false. Returns {path, bytes_written, created}. ${JUDGED}`,
    annotations: ann(false, true, true, false),
  },
  'fs.list_dir': {
    description: `List the entries of a workspace directory (default: the workspace root). ${JUDGED}`,
    annotations: ann(true, false, true, false),
  },
  'fs.delete': {
    description: `Delete a file of the workspace (a directory needs recursive: true). ${JUDGED}`,
    annotations: ann(false, true, true, false),
  },
  'git.status': {
    description: `Show the working tree status of the workspace's git repository. ${JUDGED}`,
    annotations: ann(true, false, true, false),
  },
  'git.diff': {
    description: `Show changes in the workspace's git repository, optionally limited to paths. ${JUDGED}`,
    annotations: ann(true, false, true, false),
  },
  'git.add': {
    description: `Stage paths of the workspace for the next commit. ${JUDGED}`,
    annotations: ann(false, false, true, false),
  },
  'git.commit': {
    description: `Commit the staged changes with a message. ${JUDGED}`,
    annotations: ann(false, false, false, false),
  },
  'git.revert': {
    description: `Create a commit that undoes the given commit. ${JUDGED}`,
    annotations: ann(false, false, false, false),
  },
  'git.push': {
    description:
      'Push a branch to a configured remote. Force pushes are refused; force_with_lease overwrites only if ' +
      `the remote branch is where the worker last saw it. Usually needs a human approval. ${JUDGED}`,
    annotations: ann(false, true, false, true),
  },
  'git.branch': {
    description: `List branches, or create a branch (name) and optionally switch to it. ${JUDGED}`,
    annotations: ann(false, false, false, false),
  },
  'http.get': {
    description: `Fetch a URL with HTTP GET (allowed hosts only). Returns status, headers and body. ${JUDGED}`,
    annotations: ann(true, false, true, true),
  },
  'http.request': {
    description: `Send an HTTP request (any method; allowed hosts only). Returns status, headers and body. ${JUDGED}`,
    annotations: ann(false, true, false, true),
  },
  'shell.exec': {
    description:
      'Run a program (argv, no shell) in a sandbox inside the workspace, with optional stdin and timeout. ' +
      `Returns exit code, stdout and stderr. ${JUDGED}`,
    annotations: ann(false, true, false, false),
  },
  'email.send': {
    description: `Send an email (text or html). Usually needs a human approval; may be turned into a draft. ${JUDGED}`,
    annotations: ann(false, false, false, true),
  },
  'email.draft': {
    description: `Save an email as a draft for a human to review and send. ${JUDGED}`,
    annotations: ann(false, false, false, false),
  },
  'pr.open': {
    description:
      'Open a pull request from branch head into base (push_head: push the workspace HEAD to the new ' +
      `branch head first). ${JUDGED}`,
    annotations: ann(false, false, false, true),
  },
  'pr.close': {
    description: `Close a pull request (by number, id or url), optionally with a comment. ${JUDGED}`,
    annotations: ann(false, true, true, true),
  },
  'deploy.canary': {
    description: `Deploy a ref to a share of traffic (percent, 1-100) as a canary. ${JUDGED}`,
    annotations: ann(false, true, false, true),
  },
} as const satisfies Record<keyof typeof TOOL_ARGS, ToolInfo>;

/** Deploy targets a role with `deploy.*` is offered by name (any subject-safe target is a tool). */
export const DEPLOY_TARGETS = ['staging', 'production'] as const;

/** What a model is told about `deploy.<target>`. */
export function deployToolInfo(target: string): ToolInfo {
  return {
    description:
      `Deploy a ref (tag, branch or commit) to ${target}, optionally one service with params. ` +
      `Production deploys need two human approvals. ${JUDGED}`,
    annotations: ann(false, true, false, true),
  };
}

/**
 * The concrete tool names a role's tool patterns cover (`fs.*` → every `fs.` tool; `deploy.*` → every
 * {@link DEPLOY_TARGETS} target and `deploy.canary`), in a stable order.
 * @example roleToolNames('research') // ['fs.read_file', 'fs.list_dir', 'http.get']
 */
export function roleToolNames(role: string, roles = DEFAULT_ROLE_TOOLS): string[] {
  const patterns = roles[role] ?? [];
  const known = [...Object.keys(TOOL_ARGS), ...DEPLOY_TARGETS.map((t) => `deploy.${t}`)];
  const names = new Set<string>();
  for (const p of patterns) for (const name of known) if (toolPatternMatches(p, name)) names.add(name);
  return [...names].sort();
}

/** The description and annotations of a worker tool, or undefined for a tool nothing executes. */
export function toolInfo(tool: string): ToolInfo | undefined {
  if (Object.hasOwn(TOOL_INFO, tool)) return TOOL_INFO[tool as keyof typeof TOOL_INFO];
  const deploy = /^deploy\.(.+)$/.exec(tool);
  return deploy && deployTargetOk(deploy[1]!) ? deployToolInfo(deploy[1]!) : undefined;
}

/** Deploy targets are subject-safe names. */
export function deployTargetOk(target: string): boolean {
  return /^[a-z][a-z0-9_-]{0,62}$/.test(target);
}

/**
 * The argument schema of a tool the workers know, or undefined for a tool nothing executes.
 * @example toolArgsSchema('deploy.staging') // DeployArgs
 */
export function toolArgsSchema(tool: string): z.ZodType | undefined {
  if (Object.hasOwn(TOOL_ARGS, tool)) return TOOL_ARGS[tool as keyof typeof TOOL_ARGS];
  const deploy = /^deploy\.(.+)$/.exec(tool);
  return deploy && deployTargetOk(deploy[1]!) ? DeployArgs : undefined;
}

/**
 * The tools of each worker role by default (the CONTRACT's roles plus `ops`); `*` at the end matches
 * the rest of a name. Workers override them with `WORKER_ROLE_TOOLS`. Every tool a compute recipe
 * produces is here for the roles that propose the original (`email.draft` for outreach,
 * `deploy.canary` and `pr.open` for dev).
 */
export const DEFAULT_ROLE_TOOLS: Readonly<Record<string, readonly string[]>> = {
  dev: ['fs.*', 'git.*', 'pr.open', 'pr.close', 'shell.exec', 'deploy.*'],
  research: ['fs.read_file', 'fs.list_dir', 'http.get'],
  outreach: ['email.send', 'email.draft', 'http.get', 'fs.read_file'],
  ops: ['fs.read_file', 'fs.list_dir', 'deploy.*'],
};

/** True if a tool-name pattern (`fs.*` or an exact name) covers `tool`. */
export function toolPatternMatches(pattern: string, tool: string): boolean {
  return pattern.endsWith('*') ? tool.startsWith(pattern.slice(0, -1)) : pattern === tool;
}

/** One problem with an action as the workers would receive it. */
export interface ToolArgIssue {
  /** `args.percent`, or `tool` when the tool itself is the problem. */
  path: string;
  message: string;
}

/**
 * Why the workers would refuse to execute `action` for an agent of `role` (empty: they would run it).
 * `tool`: no worker knows it, or the role's workers lack it; `args.*`: unknown fields and wrong types
 * by the tool's schema. Required fields missing from `action` but also missing from `reference`
 * (the proposal a rewrite came from) are the proposal's gap, not the rewrite's, and are skipped.
 * @example executableIssues('dev', { tool: 'deploy.canary', args: { ref: 'v1', percent: 10 } }) // []
 */
export function executableIssues(
  role: string,
  action: { tool: string; args: Record<string, unknown> },
  reference?: Record<string, unknown>,
  roles = DEFAULT_ROLE_TOOLS,
): ToolArgIssue[] {
  const schema = toolArgsSchema(action.tool);
  if (!schema) return [{ path: 'tool', message: `no worker has a tool "${action.tool}"` }];
  const issues: ToolArgIssue[] = [];
  if (!(roles[role] ?? []).some((p) => toolPatternMatches(p, action.tool))) {
    const has = roles[role];
    issues.push({
      path: 'tool',
      message: has
        ? `role "${role}" has no tool "${action.tool}" (its workers run ${has.join(', ')})`
        : `no worker serves role "${role}"`,
    });
  }
  const r = schema.safeParse(action.args);
  if (!r.success) {
    for (const i of r.error.issues) {
      const key = i.path[0];
      const missing =
        i.code === 'invalid_type' &&
        i.path.length === 1 &&
        typeof key === 'string' &&
        action.args[key] === undefined &&
        reference !== undefined &&
        reference[key] === undefined;
      if (missing) continue;
      if (i.code === 'unrecognized_keys') {
        for (const k of i.keys) issues.push({ path: `args.${k}`, message: 'unknown field' });
        continue;
      }
      issues.push({ path: ['args', ...i.path.map(String)].join('.'), message: i.message });
    }
  }
  return issues;
}

/**
 * Every key a decision's `constraints` may carry: its type, who sets it, who enforces it and how.
 * A bundle rule may set only the `rule` ones; any other key is refused (nothing would enforce it).
 */
export const CONSTRAINTS = {
  required_votes: {
    type: 'integer ≥ 1',
    set_by: 'escalate rule (required_votes) or tier',
    enforced_by: 'approvals, orchestrator',
    effect: 'distinct approve votes a grant needs',
  },
  expires_in_seconds: {
    type: 'integer ≥ 1',
    set_by: 'escalate rule (expires_in)',
    enforced_by: 'orchestrator, approvals',
    effect: 'how long the approval request stays open',
  },
  resolved_paths: {
    type: 'object: path → real path',
    set_by: 'policy (every decision with path arguments)',
    enforced_by: 'workers (fs.read_file, fs.write_file, fs.list_dir, fs.delete)',
    effect: 'where each path argument led when judged; a path that leads anywhere else at execution is refused',
  },
  timeout_seconds: {
    type: 'integer 1..86400',
    set_by: 'rule',
    enforced_by: 'workers (every tool)',
    effect: 'clamps the execution wall clock and every tool time cap; the sandbox is killed past it (TOOL.TIMEOUT)',
  },
  max_output_bytes: {
    type: 'integer ≥ 1',
    set_by: 'rule',
    enforced_by: 'workers (every tool)',
    effect: 'output JSON cut to this size (at most 64 KiB) and marked truncated; program output kept to it',
  },
  env_allow: {
    type: 'array of NAME or PREFIX*',
    set_by: 'rule',
    enforced_by: 'workers (shell.exec)',
    effect: 'only these variables of the fixed tool environment (PATH, LANG, LC_ALL, HOME) reach the program',
  },
  allowed_hosts: {
    type: 'array of host or *.domain',
    set_by: 'rule',
    enforced_by: 'workers (http.get, http.request)',
    effect: 'the only hosts reachable (instead of WORKER_HTTP_ALLOWED_HOSTS)',
  },
  http_hosts: {
    type: 'array of host or *.domain',
    set_by: 'rule',
    enforced_by: 'workers (http.get, http.request)',
    effect: 'same as allowed_hosts (takes precedence)',
  },
  http_allow_private: {
    type: 'boolean',
    set_by: 'rule',
    enforced_by: 'workers (http.get, http.request)',
    effect: 'loopback/private addresses may be reached',
  },
} as const satisfies Record<string, { type: string; set_by: string; enforced_by: string; effect: string }>;
export type ConstraintName = keyof typeof CONSTRAINTS;

/** The constraints an allow or compute rule may set: the ones the workers enforce. */
export const WORKER_CONSTRAINTS: readonly string[] = Object.entries(CONSTRAINTS)
  .filter(([, c]) => c.set_by === 'rule')
  .map(([name]) => name);

/**
 * True if `name` matches an `env_allow` entry (`NAME` exactly, or `PREFIX*`).
 * @example envAllowed(['LC_*'], 'LC_ALL') // true
 */
export function envAllowed(allow: readonly string[], name: string): boolean {
  return allow.some((p) => (p.endsWith('*') ? name.startsWith(p.slice(0, -1)) : p === name));
}
