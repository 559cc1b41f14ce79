import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { splitUpstreamTool, type McpCatalogTool } from '@warden/contracts';
import { McpCatalogStore, pinStatus, type BusConnection } from '@warden/bus';
import type { Keyring } from '@warden/kernel';
import { Logger } from '@warden/observability';
import { BUS, CONFIG, KEYRING, LOGGER, loadMcpServers, type McpServer } from '@warden/runtime';
import type { WorkersConfig } from '../config';
import { ToolError, type Tool } from '../tools/domain/tool';
import type { ToolSource } from '../tools/tool-registry';
import { UpstreamSession } from './upstream-session';

/**
 * The upstream MCP servers of this worker's roles (`WARDEN_MCP_SERVERS`): one session each, held
 * for the worker's life. After every listing the server's tool definitions are published, signed,
 * to the catalog (KV `<PREFIX>_MCP_TOOLS`) and, at first sight, pinned (KV `<PREFIX>_MCP_PINS`).
 * Its tools (`<server>.<tool>`) are a {@link ToolSource} of the registry: they run in the worker
 * (which holds the session), never twice (not idempotent), and only while the definition held now
 * matches its pin (`TOOL.DEFINITION_CHANGED` otherwise).
 */
@Injectable()
export class UpstreamServers implements ToolSource, OnModuleInit, OnApplicationShutdown {
  private readonly log: Logger;
  private readonly servers: McpServer[];
  private readonly sessions = new Map<string, UpstreamSession>();
  private readonly tools = new Map<string, Tool>();
  private store?: McpCatalogStore;

  constructor(
    @Inject(CONFIG) private readonly config: WorkersConfig,
    @Inject(BUS) private readonly bus: BusConnection,
    @Inject(KEYRING) private readonly keyring: Keyring,
    @Inject(LOGGER) log: Logger,
  ) {
    this.log = log.child('mcp');
    this.servers = loadMcpServers(config.WARDEN_MCP_SERVERS).filter((s) => config.WORKER_ROLES.includes(s.role));
  }

  async onModuleInit(): Promise<void> {
    if (this.servers.length === 0) return;
    const c = this.config;
    this.store = await McpCatalogStore.open(
      this.bus.js,
      c.WARDEN_SUBJECT_PREFIX,
      this.keyring,
      c.WARDEN_STREAM_REPLICAS,
    );
    const limits = {
      memoryMb: c.WORKER_SANDBOX_MEMORY_MB,
      cpuSeconds: c.WORKER_SANDBOX_CPU_SECONDS,
      nproc: c.WORKER_SANDBOX_NPROC,
      fsizeMb: c.WORKER_SANDBOX_FSIZE_MB,
      user: c.WORKER_SANDBOX_USER,
    };
    await Promise.all(
      this.servers.map(async (server) => {
        const session = new UpstreamSession(server, limits, this.log, (tools) => this.publish(server, tools));
        this.sessions.set(server.name, session);
        try {
          await session.start();
        } catch (err) {
          // the worker still starts: calls fail MCP.UNAVAILABLE until the server answers
          this.log.error('upstream MCP server unreachable at start; retrying in the background', {
            server: server.name,
            error: err as Error,
          });
        }
      }),
    );
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all([...this.sessions.values()].map((s) => s.close()));
  }

  /** The upstream tool `name` for `role` (any role when undefined), if one of this worker's servers could serve it. */
  tool(name: string, role?: string): Tool | undefined {
    const split = splitUpstreamTool(name);
    if (!split) return undefined;
    const session = this.sessions.get(split.server);
    if (!session || (role !== undefined && session.server.role !== role)) return undefined;
    let tool = this.tools.get(name);
    if (!tool) this.tools.set(name, (tool = this.makeTool(name, session, split.tool)));
    return tool;
  }

  /** A bounded metric label: `<server>.*`. */
  label(name: string): string | undefined {
    const split = splitUpstreamTool(name);
    return split && this.sessions.has(split.server) ? `${split.server}.*` : undefined;
  }

  /** The session of a server (tests). */
  session(server: string): UpstreamSession | undefined {
    return this.sessions.get(server);
  }

  private makeTool(name: string, session: UpstreamSession, upstream: string): Tool {
    return {
      name,
      // annotations are hints: a worker crash mid-call ends the run outcome_unknown, never a second call
      idempotent: false,
      network: true,
      inWorker: true,
      run: async (args, ctx) => {
        await session.ready();
        await this.checkPinned(session, upstream);
        return session.call(upstream, args, ctx.signal);
      },
    };
  }

  /** The definition this worker holds now must be the accepted one. */
  private async checkPinned(session: UpstreamSession, upstream: string): Promise<void> {
    const server = session.server.name;
    const held = session.tool(upstream);
    if (!held) throw new ToolError('TOOL.UNKNOWN', `MCP server ${server} has no tool "${upstream}"`);
    const pin = await this.store!.pin(server);
    const status = pinStatus(held, pin);
    if (status !== 'pinned') {
      throw new ToolError(
        'TOOL.DEFINITION_CHANGED',
        `${server}.${upstream}: its definition (${held.digest}) is not the pinned one (${pin?.tools[upstream] ?? 'none'}); an admin must re-pin the server (npx warden mcp pin ${server})`,
      );
    }
  }

  private async publish(server: McpServer, tools: McpCatalogTool[]): Promise<void> {
    const store = this.store!;
    const entry = await store.publishCatalog({
      server: server.name,
      role: server.role,
      transport: server.transport,
      tools,
      published_at: new Date().toISOString(),
      worker_id: this.config.WORKER_ID,
    });
    if (!this.config.MCP_TRUST_ON_FIRST_USE) return;
    const { pin, created } = await store.pinFirstSight(entry);
    if (created)
      this.log.info('upstream MCP server pinned at first sight', { server: server.name, tools: tools.length });
    const changed = tools.filter((t) => pinStatus(t, pin) !== 'pinned').map((t) => t.name);
    if (changed.length) {
      this.log.warn('security: upstream tool definitions differ from their pins; refused until re-pinned', {
        server: server.name,
        tools: changed.slice(0, 50).join(','),
      });
    }
  }
}
