import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { McpToolDefinition, type McpCatalogTool } from '@warden/contracts';
import { catalogTool } from '@warden/bus';
import type { Logger } from '@warden/observability';
import type { McpServer } from '@warden/runtime';
import { ToolError } from '../tools/domain/tool';
import { launchStdio, type LaunchLimits } from './upstream-launch';

/** Restart back-off of a server that died or could not be reached: 1 s doubling to 30 s. */
const RESTART_MIN_MS = 1000;
const RESTART_MAX_MS = 30_000;
/** Definitions kept per server (a server listing more is cut, with a warning). */
const MAX_TOOLS = 1000;

/** What a call returned, as the run's output: the upstream result without its `_meta` and `isError`. */
export interface UpstreamOutput {
  content: unknown[];
  structuredContent?: Record<string, unknown>;
}

/**
 * One upstream MCP server held by this worker: connected at start, its session reused for every
 * call, reconnected (a stdio server restarted) when it dies, its tool list refreshed when it says
 * the list changed. `onTools` is told the definitions after every (re)listing.
 */
export class UpstreamSession {
  private client?: Client;
  private connecting?: Promise<void>;
  private tools = new Map<string, McpCatalogTool>();
  private restartMs = RESTART_MIN_MS;
  private restartTimer?: NodeJS.Timeout;
  private closed = false;
  private warned = false;
  /** Set while a session is up. */
  connected = false;

  constructor(
    readonly server: McpServer,
    private readonly limits: LaunchLimits,
    private readonly log: Logger,
    private readonly onTools: (tools: McpCatalogTool[]) => Promise<void>,
  ) {}

  /** The tool as this worker holds it now (the definition the next call is checked against). */
  tool(name: string): McpCatalogTool | undefined {
    return this.tools.get(name);
  }

  /** Connects and lists (throws if the server cannot be reached; a restart is then scheduled). */
  async start(): Promise<void> {
    try {
      await this.ensure();
    } catch (err) {
      this.scheduleRestart();
      throw err;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.restartTimer);
    const c = this.client;
    this.client = undefined;
    this.connected = false;
    await c?.close().catch(() => undefined);
  }

  /** Connected (reconnecting a session that died), or `MCP.UNAVAILABLE`. */
  async ready(): Promise<void> {
    try {
      await this.ensure();
    } catch (err) {
      throw new ToolError(
        'MCP.UNAVAILABLE',
        `MCP server ${this.server.name} is unreachable: ${(err as Error).message}`,
      );
    }
  }

  /**
   * Calls an upstream tool on the held session. `isError` results and protocol errors become
   * {@link ToolError}s (`MCP.TOOL_ERROR` with the upstream's text, `MCP.UNAVAILABLE`, `TOOL.TIMEOUT`).
   */
  async call(name: string, args: Record<string, unknown>, signal: AbortSignal | undefined): Promise<UpstreamOutput> {
    await this.ready();
    const timeout = (this.server.timeout_seconds ?? 3600) * 1000;
    let result: Awaited<ReturnType<Client['callTool']>>;
    try {
      result = await this.client!.callTool({ name, arguments: args }, undefined, {
        signal,
        timeout,
        maxTotalTimeout: timeout,
      });
    } catch (err) {
      if (signal?.aborted) throw new ToolError('TOOL.TIMEOUT', `${this.server.name}.${name}: the time budget ran out`);
      const msg = (err as Error).message ?? String(err);
      if (/timed out|timeout/i.test(msg)) throw new ToolError('TOOL.TIMEOUT', `${this.server.name}.${name}: ${msg}`);
      // the request may have reached the server: the caller does not retry (upstream tools are not idempotent)
      throw new ToolError('MCP.CALL_FAILED', `${this.server.name}.${name}: ${msg}`);
    }
    const content = Array.isArray(result.content) ? (result.content as unknown[]) : [];
    if (result.isError) {
      const text = content
        .map((c) =>
          c && typeof c === 'object' && (c as { type?: unknown }).type === 'text' ? (c as { text: string }).text : '',
        )
        .filter(Boolean)
        .join('\n');
      throw new ToolError('MCP.TOOL_ERROR', text || `${this.server.name}.${name} returned an error without text`);
    }
    const out: UpstreamOutput = { content };
    if (result.structuredContent && typeof result.structuredContent === 'object')
      out.structuredContent = result.structuredContent as Record<string, unknown>;
    return out;
  }

  private ensure(): Promise<void> {
    if (this.client && this.connected) return Promise.resolve();
    if (this.closed) return Promise.reject(new Error('closed'));
    return (this.connecting ??= this.connect().finally(() => (this.connecting = undefined)));
  }

  private async connect(): Promise<void> {
    const s = this.server;
    let transport: Transport;
    if (s.transport === 'stdio') {
      const launch = launchStdio(s, this.limits);
      if (!this.warned) for (const w of launch.warnings) this.log.warn(`sandbox degraded: ${w}`);
      this.warned = true;
      transport = new StdioClientTransport({
        command: launch.command,
        args: launch.args,
        cwd: launch.cwd,
        // `env -i` in the argv scrubs what the server sees; this is only the wrapper's environment
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
        stderr: 'pipe',
      });
      const stderr = (transport as StdioClientTransport).stderr;
      stderr?.on('data', (b: Buffer) =>
        this.log.debug('upstream stderr', { server: s.name, text: b.toString('utf8').slice(0, 2000) }),
      );
    } else {
      transport = new StreamableHTTPClientTransport(new URL(s.url), { requestInit: { headers: s.headers } });
    }
    const client = new Client(
      { name: 'warden-worker', version: '0.1.0' },
      {
        capabilities: {},
        listChanged: {
          tools: {
            onChanged: (error, tools) => {
              if (error || !tools || client !== this.client) return;
              void this.accept(tools).catch((err: unknown) =>
                this.log.error('upstream tools could not be catalogued', { server: s.name, error: err as Error }),
              );
            },
          },
        },
      },
    );
    client.onclose = () => {
      if (client !== this.client) return;
      this.connected = false;
      this.client = undefined;
      if (!this.closed) {
        this.log.warn('upstream MCP server closed the session; restarting it', { server: s.name });
        this.scheduleRestart();
      }
    };
    await client.connect(transport, { timeout: 30_000 });
    this.client = client;
    this.connected = true;
    try {
      const listed: unknown[] = [];
      let cursor: string | undefined;
      do {
        const page = await client.listTools(cursor ? { cursor } : {}, { timeout: 30_000 });
        listed.push(...page.tools);
        cursor = page.nextCursor;
      } while (cursor && listed.length < MAX_TOOLS);
      await this.accept(listed);
    } catch (err) {
      this.connected = false;
      this.client = undefined;
      await client.close().catch(() => undefined);
      throw err;
    }
    this.restartMs = RESTART_MIN_MS;
    this.log.info('upstream MCP server connected', { server: s.name, transport: s.transport, tools: this.tools.size });
  }

  /** Keeps the definitions a server lists (malformed ones are dropped, with a warning) and reports them. */
  private async accept(listed: readonly unknown[]): Promise<void> {
    const tools = new Map<string, McpCatalogTool>();
    for (const raw of listed.slice(0, MAX_TOOLS)) {
      const r = McpToolDefinition.safeParse(raw);
      if (!r.success) {
        this.log.warn('upstream tool definition refused', {
          server: this.server.name,
          tool: String((raw as { name?: unknown })?.name).slice(0, 128),
          error: r.error.issues[0]?.message,
        });
        continue;
      }
      tools.set(r.data.name, catalogTool(r.data));
    }
    this.tools = tools;
    await this.onTools([...tools.values()].sort((a, b) => (a.name < b.name ? -1 : 1)));
  }

  private scheduleRestart(): void {
    if (this.closed || this.restartTimer) return;
    const delay = this.restartMs;
    this.restartMs = Math.min(this.restartMs * 2, RESTART_MAX_MS);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.ensure().catch((err: unknown) => {
        this.log.warn('upstream MCP server unreachable; retrying', {
          server: this.server.name,
          retry_ms: this.restartMs,
          error: (err as Error).message,
        });
        this.scheduleRestart();
      });
    }, delay);
    this.restartTimer.unref();
  }
}
