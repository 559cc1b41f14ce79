/**
 * What the MCP gateway needs from upstream MCP servers (contract §7): the tools a role may call and a
 * check before a call is proposed. The gateway resolves {@link UPSTREAM_CATALOG}; the provider lives
 * in `src/upstream/upstream-catalog.provider.ts` (the proxy replaces the one that offers nothing).
 */

/** One tool as `tools/list` shows it (the shape of MCP's `Tool`). */
export interface McpToolListing {
  name: string;
  title?: string;
  description?: string;
  inputSchema: { type: 'object'; properties?: Record<string, unknown>; required?: string[]; [k: string]: unknown };
  outputSchema?: { type: 'object'; [k: string]: unknown };
  annotations?: {
    title?: string;
    readOnlyHint?: boolean;
    destructiveHint?: boolean;
    idempotentHint?: boolean;
    openWorldHint?: boolean;
  };
  _meta?: Record<string, unknown>;
}

/** Whether an upstream tool may be proposed now; `code` (e.g. `TOOL.DEFINITION_CHANGED`) and `message` say why not. */
export type UpstreamCheck = { ok: true } | { ok: false; code: string; message: string };

/** Upstream MCP tools, as the gateway sees them. */
export interface UpstreamCatalog {
  /** The upstream tools agents of `role` may call (names `<server>.<tool>`). */
  toolsFor(role: string): Promise<McpToolListing[]>;
  /** Called for a `tools/call` of a name that is not a worker tool, before anything is submitted. */
  check(tool: string, role: string): Promise<UpstreamCheck>;
}

/** Nest token of the {@link UpstreamCatalog}. */
export const UPSTREAM_CATALOG = Symbol('UPSTREAM_CATALOG');

/** No upstream servers: nothing listed, every unknown tool refused as unknown. */
export class NoUpstreamCatalog implements UpstreamCatalog {
  async toolsFor(): Promise<McpToolListing[]> {
    return [];
  }
  async check(tool: string): Promise<UpstreamCheck> {
    return { ok: false, code: 'TOOL.UNKNOWN', message: `there is no tool "${tool}"` };
  }
}
