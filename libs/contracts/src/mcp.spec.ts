import { ToolName } from './common';
import { mcpBuckets, parseMcpServers, splitUpstreamTool } from './mcp';

describe('WARDEN_MCP_SERVERS', () => {
  it('parses stdio and http servers with defaults', () => {
    const f = parseMcpServers({
      servers: [
        { name: 'everything', transport: 'stdio', command: 'node', args: ['x.js', 'stdio'], role: 'research' },
        { name: 'tickets', transport: 'http', url: 'https://mcp.example.com/mcp', role: 'ops' },
      ],
    });
    expect(f.servers[0]).toMatchObject({ transport: 'stdio', env: {}, args: ['x.js', 'stdio'] });
    expect(f.servers[1]).toMatchObject({ transport: 'http', headers: {} });
  });

  it('names every bad field by its path', () => {
    expect(() =>
      parseMcpServers({
        servers: [
          { name: 'fs', transport: 'stdio', command: 'node', role: 'dev' },
          { name: 'ok', transport: 'carrier-pigeon', role: 'dev' },
          { name: 'Bad Name', transport: 'http', url: 'ftp://x', role: 'dev', extra: 1 },
        ],
      }),
    ).toThrow(
      /servers\.0\.name: is the namespace of built-in tools[\s\S]*servers\.1\.transport[\s\S]*servers\.2\.name[\s\S]*servers\.2\.url[\s\S]*servers\.2\.extra: unknown field/,
    );
    expect(() =>
      parseMcpServers({
        servers: [
          { name: 'twice', transport: 'stdio', command: 'a', role: 'dev' },
          { name: 'twice', transport: 'stdio', command: 'b', role: 'dev' },
        ],
      }),
    ).toThrow(/servers\.1\.name: is used twice/);
  });
});

describe('tool names', () => {
  it('keep the upstream spelling after the namespace, and everything valid before', () => {
    for (const ok of ['fs.read_file', 'deploy.canary', 'everything.get-sum', 'github.searchIssues', 'x.a.b-C_9'])
      expect(ToolName.safeParse(ok).success).toBe(true);
    for (const bad of ['NotATool', 'WriteFile', 'Fs.read', 'fs.', '.x', 'fs.read file', 'a.b/c'])
      expect(ToolName.safeParse(bad).success).toBe(false);
  });

  it('split at the first dot; buckets follow the prefix', () => {
    expect(splitUpstreamTool('everything.get.sum')).toEqual({ server: 'everything', tool: 'get.sum' });
    expect(splitUpstreamTool('nodot')).toBeUndefined();
    expect(mcpBuckets('acme-x')).toEqual({ tools: 'ACME_X_MCP_TOOLS', pins: 'ACME_X_MCP_PINS' });
  });
});
