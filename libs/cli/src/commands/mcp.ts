/** `warden mcp …`: upstream MCP servers on the ingest service (INGEST_URL; admin token). */
import type { Command } from 'commander';
import { EXIT, UsageError } from '../errors';
import { out, table, type Cell } from '../format';
import { api } from '../http';
import { act, group, type CommandModule, type Context } from '../program';

const usage = `Upstream MCP servers (INGEST_URL, default {ingest}; admin token):
  mcp tools [--server <name>] [--json]       every upstream tool (<server>.<tool>) with its role and pin
                                             status: pinned, changed (refused everywhere until
                                             re-pinned: TOOL.DEFINITION_CHANGED) or unpinned
  mcp pin <server> [--json]                  accept the server's tools as they are defined now`;

/** One upstream server as `GET /v1/mcp/tools` lists it. */
export interface McpServerView {
  server: string;
  role: string;
  transport: string;
  pinned_at?: string | null;
  pinned_by?: string | null;
  changed?: number;
  removed: string[];
  tools: {
    name: string;
    status: string;
    digest?: string | null;
    pinned_digest?: string | null;
    annotations?: { readOnlyHint?: boolean; destructiveHint?: boolean; openWorldHint?: boolean };
  }[];
}

const ingest = api.ingest();

const short = (digest: string | null | undefined) => (digest ? digest.replace(/^sha256:/, '').slice(0, 12) : '-');

export function formatServers(servers: readonly McpServerView[]): string {
  if (servers.length === 0) return 'no upstream MCP servers catalogued (is a worker running with WARDEN_MCP_SERVERS?)';
  const rows: Cell[][] = [['TOOL', 'ROLE', 'STATUS', 'DIGEST', 'PINNED', 'HINTS']];
  const notes: string[] = [];
  for (const s of servers) {
    for (const t of s.tools) {
      const a = t.annotations ?? {};
      const hints = [
        a.readOnlyHint === true ? 'read-only' : null,
        a.destructiveHint === true ? 'destructive' : null,
        a.openWorldHint === true ? 'open-world' : a.openWorldHint === false ? 'closed-world' : null,
      ].filter(Boolean);
      rows.push([
        `${s.server}.${t.name}`,
        s.role,
        t.status,
        short(t.digest),
        short(t.pinned_digest),
        hints.join(',') || '-',
      ]);
    }
    for (const r of s.removed) rows.push([`${s.server}.${r}`, s.role, 'removed', '-', '-', '-']);
    notes.push(
      `${s.server}: ${s.transport}, pinned ${s.pinned_at ?? 'never'}${s.pinned_by ? ` by ${s.pinned_by}` : ''}` +
        (s.changed ? `; ${s.changed} tool(s) refused until "warden mcp pin ${s.server}"` : ''),
    );
  }
  return `${table(rows)}\n${notes.join('\n')}`;
}

function register(program: Command, ctx: Context): void {
  const io = ctx.io;
  const mcp = group(
    program,
    'mcp',
    'upstream MCP servers (INGEST_URL; admin)',
    (sub) => `unknown mcp command "${sub}"`,
  );
  mcp
    .command('tools')
    .description('every upstream tool with its role and pin status')
    .option('--server <name>', 'only this server')
    .option('--json', 'as JSON')
    .allowExcessArguments()
    .action(
      act(ctx, async (o: { server?: string; json?: boolean }, cmd: Command) => {
        if (cmd.args.length) throw new UsageError(`unexpected argument "${cmd.args[0]}"`);
        const r = await ingest.call<{ servers: McpServerView[] }>(io, 'GET', '/v1/mcp/tools');
        const servers = o.server ? r.servers.filter((s) => s.server === o.server) : r.servers;
        out(io, servers, o.json, formatServers(servers));
        return EXIT.ok;
      }),
    );
  mcp
    .command('pin')
    .description("accept the server's tools as they are defined now")
    .argument('[server]')
    .option('--json', 'as JSON')
    .allowExcessArguments()
    .action(
      act(ctx, async (_s: unknown, o: { json?: boolean }, cmd: Command) => {
        if (cmd.args.length !== 1) throw new UsageError('mcp pin needs exactly one server name');
        const name = cmd.args[0] ?? '';
        const r = await ingest.call<{ server: string; tools: unknown[]; pinned_at: string; pinned_by: string }>(
          io,
          'POST',
          `/v1/mcp/servers/${encodeURIComponent(name)}/pin`,
          {},
        );
        out(io, r, o.json, `pinned ${r.server}: ${r.tools.length} tool(s) at ${r.pinned_at} by ${r.pinned_by}`);
        return EXIT.ok;
      }),
    );
}

export const mcpCommands: CommandModule = { usage, register, defaults: { mcp: 'tools' } };
