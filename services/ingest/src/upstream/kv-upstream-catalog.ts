import type { Provider } from '@nestjs/common';
import { splitUpstreamTool, type McpCatalogEntry, type McpCatalogTool, type McpPinStatus } from '@warden/contracts';
import { McpCatalogStore, pinStatus, type BusConnection, type McpCatalogView } from '@warden/bus';
import type { Keyring } from '@warden/kernel';
import { BUS, CONFIG, KEYRING } from '@warden/runtime';
import type { IngestConfig } from '../config';

/** One upstream tool as the gateway's `tools/list` shows it (MCP's `Tool`, named `<server>.<tool>`). */
export interface UpstreamToolListing {
  name: string;
  title?: string;
  description?: string;
  inputSchema: { type: 'object'; [k: string]: unknown };
  outputSchema?: { type: 'object'; [k: string]: unknown };
  annotations?: McpCatalogTool['annotations'];
  _meta?: Record<string, unknown>;
}

/** Whether an upstream tool may be proposed now; `code` (e.g. `TOOL.DEFINITION_CHANGED`) says why not. */
export type UpstreamToolCheck = { ok: true } | { ok: false; code: string; message: string };

/** One upstream tool as `GET /v1/mcp/tools` shows it to admins. */
export interface UpstreamToolStatus {
  name: string;
  status: McpPinStatus;
  digest: string;
  pinned_digest: string | null;
  title?: string;
  description?: string;
  annotations?: Record<string, unknown>;
}

/** One upstream server, its tools and its pin (`GET /v1/mcp/tools`). */
export interface UpstreamServerStatus {
  server: string;
  role: string;
  transport: 'stdio' | 'http';
  published_at: string;
  worker_id: string;
  pinned_at: string | null;
  pinned_by: string | null;
  /** Tools whose definition is not the pinned one: refused everywhere until re-pinned. */
  changed: number;
  tools: UpstreamToolStatus[];
  /** Pinned tools the server no longer lists. */
  removed: string[];
}

/**
 * The gateway's upstream tools, from the signed catalog (KV `<PREFIX>_MCP_TOOLS`, written by the
 * workers that hold the sessions) and the signed pins (KV `<PREFIX>_MCP_PINS`), both followed in
 * memory. Agents see only pinned tools of their role's servers; a changed definition is hidden
 * from `tools/list` and refused by `check` (`TOOL.DEFINITION_CHANGED`) until an admin re-pins it.
 * @example const catalog = new KvUpstreamCatalog(store, await store.follow()); await catalog.toolsFor('research')
 */
export class KvUpstreamCatalog {
  constructor(
    private readonly store: McpCatalogStore,
    private readonly view: McpCatalogView,
  ) {}

  /** Nest lifecycle: stop following the buckets. */
  onApplicationShutdown(): void {
    this.view.stop();
  }

  async toolsFor(role: string): Promise<UpstreamToolListing[]> {
    const out: UpstreamToolListing[] = [];
    for (const entry of this.view.catalogs()) {
      if (entry.role !== role) continue;
      const pin = this.view.pin(entry.server);
      for (const t of entry.tools) {
        if (pinStatus(t, pin) !== 'pinned') continue;
        const listing: UpstreamToolListing = {
          name: `${entry.server}.${t.name}`,
          inputSchema: { type: 'object', ...t.inputSchema } as UpstreamToolListing['inputSchema'],
        };
        if (t.title !== undefined) listing.title = t.title;
        if (t.description !== undefined) listing.description = t.description;
        if (t.outputSchema !== undefined) listing.outputSchema = t.outputSchema as UpstreamToolListing['outputSchema'];
        if (t.annotations !== undefined) listing.annotations = t.annotations;
        listing._meta = { 'warden/upstream': { server: entry.server, tool: t.name, digest: t.digest } };
        out.push(listing);
      }
    }
    return out;
  }

  async check(tool: string, role: string): Promise<UpstreamToolCheck> {
    const facts = this.view.facts(tool);
    if (!facts) return { ok: false, code: 'TOOL.UNKNOWN', message: `there is no tool "${tool}"` };
    if (facts.server_role !== role)
      return {
        ok: false,
        code: 'TOOL.NOT_IN_ROLE',
        message: `role ${role} may not use ${tool}: MCP server ${facts.server} serves role ${facts.server_role}`,
      };
    if (facts.digest === null)
      return { ok: false, code: 'TOOL.UNKNOWN', message: `MCP server ${facts.server} has no tool "${facts.tool}"` };
    if (facts.pinned !== facts.digest)
      return {
        ok: false,
        code: 'TOOL.DEFINITION_CHANGED',
        message: `${tool}: its definition changed since it was pinned (or was never pinned); it is refused until an admin re-pins server ${facts.server}`,
      };
    return { ok: true };
  }

  /** Every catalogued server with each tool's pin status (admins; `npx warden mcp tools`). */
  servers(): UpstreamServerStatus[] {
    return this.view.catalogs().map((entry) => this.status(entry));
  }

  /**
   * Accepts every tool of the server as it is defined now (admin re-pin), signed by ingest; this
   * replica's view has it at once, the others within the KV's push latency.
   * @throws DomainError MCP.SERVER_NOT_FOUND when no worker has catalogued the server
   */
  async pin(server: string, by: string): Promise<UpstreamServerStatus> {
    const pin = await this.store.repin(server, by);
    // answer once this replica's view follows (the KV watch delivers in milliseconds)
    for (let i = 0; i < 100 && this.view.pin(server)?.sig !== pin.sig; i++) await new Promise((r) => setTimeout(r, 20));
    const entry = this.view.catalog(server) ?? (await this.store.catalog(server))!;
    return this.status(entry);
  }

  /** Whether `tool` names a catalogued upstream server. */
  isUpstream(tool: string): boolean {
    const split = splitUpstreamTool(tool);
    return !!split && !!this.view.catalog(split.server);
  }

  private status(entry: McpCatalogEntry): UpstreamServerStatus {
    const pin = this.view.pin(entry.server);
    const tools = entry.tools.map((t): UpstreamToolStatus => {
      const s: UpstreamToolStatus = {
        name: t.name,
        status: pinStatus(t, pin),
        digest: t.digest,
        pinned_digest: pin?.tools[t.name] ?? null,
      };
      if (t.title !== undefined) s.title = t.title;
      if (t.description !== undefined) s.description = t.description;
      if (t.annotations !== undefined) s.annotations = t.annotations;
      return s;
    });
    const listed = new Set(entry.tools.map((t) => t.name));
    return {
      server: entry.server,
      role: entry.role,
      transport: entry.transport,
      published_at: entry.published_at,
      worker_id: entry.worker_id,
      pinned_at: pin?.pinned_at ?? null,
      pinned_by: pin?.pinned_by ?? null,
      changed: tools.filter((t) => t.status !== 'pinned').length,
      tools,
      removed: Object.keys(pin?.tools ?? {}).filter((n) => !listed.has(n)),
    };
  }
}

/** The {@link KvUpstreamCatalog} of this ingest: both buckets opened, followed in memory. */
export const kvUpstreamCatalogProvider: Provider = {
  provide: KvUpstreamCatalog,
  inject: [BUS, KEYRING, CONFIG],
  useFactory: async (bus: BusConnection, kr: Keyring, config: IngestConfig): Promise<KvUpstreamCatalog> => {
    const store = await McpCatalogStore.open(bus.js, config.WARDEN_SUBJECT_PREFIX, kr, config.WARDEN_STREAM_REPLICAS);
    return new KvUpstreamCatalog(store, await store.follow());
  },
};
