import { z } from 'zod';
import { Sha256, Timestamp } from './common';
import { toFieldErrors } from './validation';

/**
 * Upstream MCP servers (CONTRACT §7): the file `WARDEN_MCP_SERVERS` names, the tool catalog workers
 * publish for each server, and the pins admins accept. Shared by workers (they hold the sessions),
 * policy (it judges with the catalog) and ingest (it lists the tools and re-pins).
 */

/**
 * Namespaces of the workers' own tools (and of the names the default policy gives a meaning): an
 * upstream server may not take one, so `fs.read_file` is never an upstream tool.
 */
export const RESERVED_TOOL_NAMESPACES: readonly string[] = [
  'fs',
  'git',
  'http',
  'shell',
  'email',
  'pr',
  'deploy',
  'secrets',
  'billing',
  'warden',
];

/** A server's name: the namespace of its tools (`everything` → `everything.echo`). */
export const McpServerName = z
  .string()
  .max(64)
  .regex(/^[a-z][a-z0-9_]*$/, 'must be a lowercase tool namespace (letters, digits, _), e.g. everything')
  .refine((n) => !RESERVED_TOOL_NAMESPACES.includes(n), 'is the namespace of built-in tools');

/** An upstream tool's own name (MCP: 1..128 of `[A-Za-z0-9_.-]`). */
export const McpToolName = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_.-]+$/, 'must be letters, digits, _, . or -');

const Role = z.string().regex(/^[a-z][a-z0-9_-]*$/, 'must be a lowercase role name, e.g. research');

const common = {
  name: McpServerName,
  /** The workers of this role hold the upstream session and make the calls; only agents of it may call. */
  role: Role,
  /** Seconds one upstream call may take (also bounded by the decision's `timeout_seconds`). */
  timeout_seconds: z.number().int().min(1).max(3600).optional(),
};

/** One upstream server in the `WARDEN_MCP_SERVERS` file. `${VAR}` in env/header values is read from the worker's env. */
export const McpServerConfig = z.discriminatedUnion('transport', [
  z.strictObject({
    ...common,
    transport: z.literal('stdio'),
    command: z.string().min(1),
    args: z.array(z.string()).default([]),
    /** Extra environment of the server process (it gets nothing of the worker's besides PATH, LANG, HOME). */
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an env var name'), z.string()).default({}),
    /** Working directory (default: the directory of the file). */
    cwd: z.string().min(1).optional(),
  }),
  z.strictObject({
    ...common,
    transport: z.literal('http'),
    url: z.url({ protocol: /^https?$/ }),
    headers: z.record(z.string().regex(/^[A-Za-z0-9-]+$/, 'must be a header name'), z.string()).default({}),
  }),
]);
export type McpServerConfig = z.infer<typeof McpServerConfig>;

/** The whole file. */
export const McpServersFile = z
  .strictObject({ servers: z.array(McpServerConfig).default([]) })
  .superRefine((f, ctx) => {
    const seen = new Set<string>();
    f.servers.forEach((s, i) => {
      if (seen.has(s.name)) ctx.addIssue({ code: 'custom', path: ['servers', i, 'name'], message: 'is used twice' });
      seen.add(s.name);
    });
  });
export type McpServersFile = z.infer<typeof McpServersFile>;

/**
 * The servers of a parsed file (YAML or JSON already read); throws one error naming every bad
 * field by its path (`servers.0.transport: …`).
 * @example parseMcpServers(YAML.parse(text)).servers[0].name
 */
export function parseMcpServers(value: unknown, source = 'WARDEN_MCP_SERVERS'): McpServersFile {
  const r = McpServersFile.safeParse(value ?? {});
  if (r.success) return r.data;
  const lines = toFieldErrors(r.error).map((e) => `  ${e.path || '(file)'}: ${e.message}`);
  throw new Error(`${source}: invalid MCP server list:\n${lines.join('\n')}`);
}

/** MCP tool annotations (hints from the server, never trusted for more than a default tier). */
export const McpToolAnnotations = z
  .object({
    title: z.string().optional(),
    readOnlyHint: z.boolean().optional(),
    destructiveHint: z.boolean().optional(),
    idempotentHint: z.boolean().optional(),
    openWorldHint: z.boolean().optional(),
  })
  .catchall(z.unknown());
export type McpToolAnnotations = z.infer<typeof McpToolAnnotations>;

/** What a server says about one tool (what the model sees): the digest covers all of it. */
export const McpToolDefinition = z.object({
  name: McpToolName,
  title: z.string().optional(),
  description: z.string().optional(),
  inputSchema: z.record(z.string(), z.unknown()),
  outputSchema: z.record(z.string(), z.unknown()).optional(),
  annotations: McpToolAnnotations.optional(),
});
export type McpToolDefinition = z.infer<typeof McpToolDefinition>;

/** A catalogued tool: its definition and `digest` = sha256 of the definition's canonical JSON. */
export const McpCatalogTool = McpToolDefinition.extend({ digest: Sha256 });
export type McpCatalogTool = z.infer<typeof McpCatalogTool>;

/** KV `<PREFIX>_MCP_TOOLS`, key = server: the tools a worker of the server's role holds now; signed by `workers`. */
export const McpCatalogEntry = z.object({
  server: McpServerName,
  role: Role,
  transport: z.enum(['stdio', 'http']),
  tools: z.array(McpCatalogTool),
  published_at: Timestamp,
  worker_id: z.string(),
  signed_by: z.string(),
  sig: z.string(),
});
export type McpCatalogEntry = z.infer<typeof McpCatalogEntry>;

/**
 * KV `<PREFIX>_MCP_PINS`, key = server: the accepted digest of each tool. Written at first sight by
 * the workers (`pinned_by: "first-sight"`) and by ingest when an admin re-pins; signed by the writer.
 */
export const McpPinEntry = z.object({
  server: McpServerName,
  tools: z.record(McpToolName, Sha256),
  pinned_at: Timestamp,
  pinned_by: z.string(),
  /**
   * The KV revision of the entry this pin replaces (0 for a key's first entry), under the signature:
   * a pin is valid only directly after that revision, so an older genuine pin put again (a replay)
   * is refused. Absent on pins written before it existed: valid only as a key's first entry.
   */
  prev_revision: z.number().int().nonnegative().optional(),
  signed_by: z.string(),
  sig: z.string(),
});
export type McpPinEntry = z.infer<typeof McpPinEntry>;

/** Where a tool stands against its pin. */
export type McpPinStatus = 'pinned' | 'changed' | 'unpinned';

/**
 * What policy judges an upstream tool call with (part of the evaluated input, so replay reads no KV):
 * the catalog's facts about the tool and its pin, as they were when judged.
 */
export const McpToolFacts = z.object({
  server: McpServerName,
  /** The role whose workers serve the server: the only role that may call its tools. */
  server_role: Role,
  /** The upstream name (after `<server>.`). */
  tool: z.string(),
  /** The definition's digest now; null when the server lists no such tool. */
  digest: Sha256.nullable(),
  /** The accepted digest; null when never pinned. */
  pinned: Sha256.nullable(),
  annotations: McpToolAnnotations,
});
export type McpToolFacts = z.infer<typeof McpToolFacts>;

/** The bucket names of a subject prefix (`warden` → `WARDEN_MCP_TOOLS`, `WARDEN_MCP_PINS`). */
export function mcpBuckets(prefix: string): { tools: string; pins: string } {
  const up = prefix.toUpperCase().replace(/-/g, '_');
  return { tools: `${up}_MCP_TOOLS`, pins: `${up}_MCP_PINS` };
}

/** `<server>.<tool>` split at the first dot; undefined for a name without one. */
export function splitUpstreamTool(name: string): { server: string; tool: string } | undefined {
  const dot = name.indexOf('.');
  if (dot <= 0 || dot === name.length - 1) return undefined;
  return { server: name.slice(0, dot), tool: name.slice(dot + 1) };
}
