'use strict';
/**
 * `warden mcp …`: upstream MCP servers on the ingest service (INGEST_URL, default
 * http://127.0.0.1:7101), with the admin operator token: their tools with pin status, and re-pinning.
 */
const { UsageError, parseFlags } = require('./args');
const { apiClient, command } = require('./http');
const { table, out } = require('./format');

const usage = `Upstream MCP servers (INGEST_URL, default http://127.0.0.1:7101; admin token):
  mcp tools [--server <name>] [--json]       every upstream tool (<server>.<tool>) with its role and pin
                                             status: pinned, changed (refused everywhere until
                                             re-pinned: TOOL.DEFINITION_CHANGED) or unpinned
  mcp pin <server> [--json]                  accept the server's tools as they are defined now`;

const ingest = apiClient({
  name: 'ingest',
  urlVar: 'INGEST_URL',
  defaultUrl: 'http://127.0.0.1:7101',
  forbidden: 'the token lacks the role this needs (admin)',
});

const short = (digest) => (digest ? digest.replace(/^sha256:/, '').slice(0, 12) : '-');

function formatServers(servers) {
  if (servers.length === 0) return 'no upstream MCP servers catalogued (is a worker running with WARDEN_MCP_SERVERS?)';
  const rows = [['TOOL', 'ROLE', 'STATUS', 'DIGEST', 'PINNED', 'HINTS']];
  const notes = [];
  for (const s of servers) {
    for (const t of s.tools) {
      const a = t.annotations || {};
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

const commands = {
  mcp: command(async (argv, io) => {
    const [sub, ...rest] = argv;
    switch (sub) {
      case 'tools':
      case undefined: {
        const { flags, positionals } = parseFlags(rest, { server: 'string', json: 'boolean' });
        if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
        const r = await ingest.call(io, 'GET', '/v1/mcp/tools');
        const servers = flags.server ? r.servers.filter((s) => s.server === flags.server) : r.servers;
        out(io, servers, flags.json, formatServers(servers));
        return 0;
      }
      case 'pin': {
        const { flags, positionals } = parseFlags(rest, { json: 'boolean' });
        if (positionals.length !== 1) throw new UsageError('mcp pin needs exactly one server name');
        const r = await ingest.call(io, 'POST', `/v1/mcp/servers/${encodeURIComponent(positionals[0])}/pin`, {});
        out(io, r, flags.json, `pinned ${r.server}: ${r.tools.length} tool(s) at ${r.pinned_at} by ${r.pinned_by}`);
        return 0;
      }
      default:
        throw new UsageError(`unknown mcp command "${sub}"`);
    }
  }),
};

module.exports = { commands, usage };
