import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parseMcpServers, type McpServerConfig } from '@warden/contracts';

/** A configured upstream server, with `${VAR}`s expanded and `cwd` absolute. */
export type McpServer = McpServerConfig & { cwd?: string };

/**
 * The upstream MCP servers of the file `WARDEN_MCP_SERVERS` names (YAML or JSON, CONTRACT §7); none
 * when unset. `${VAR}` in `env` and `headers` values is read from `env` (secrets stay out of the
 * file); a stdio server's `cwd` defaults to the file's directory. Throws one error naming every bad
 * field by its path, or a variable that is not set.
 * @example loadMcpServers(process.env.WARDEN_MCP_SERVERS).filter((s) => s.role === 'research')
 */
export function loadMcpServers(file: string | undefined, env: NodeJS.ProcessEnv = process.env): McpServer[] {
  if (!file) return [];
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`WARDEN_MCP_SERVERS: cannot read ${file}: ${(err as Error).message}`);
  }
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (err) {
    throw new Error(`WARDEN_MCP_SERVERS: ${file} is not YAML: ${(err as Error).message}`);
  }
  const dir = path.dirname(path.resolve(file));
  const missing: string[] = [];
  const expand = (where: string, v: string) =>
    v.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
      const got = env[name];
      if (got === undefined) missing.push(`  ${where}: \${${name}} is not set`);
      return got ?? '';
    });
  const servers = parseMcpServers(value, `WARDEN_MCP_SERVERS (${file})`).servers.map((s, i): McpServer => {
    if (s.transport === 'http') {
      const headers = Object.fromEntries(
        Object.entries(s.headers).map(([k, v]) => [k, expand(`servers.${i}.headers.${k}`, v)]),
      );
      return { ...s, headers };
    }
    const envOut = Object.fromEntries(Object.entries(s.env).map(([k, v]) => [k, expand(`servers.${i}.env.${k}`, v)]));
    return { ...s, env: envOut, cwd: path.resolve(dir, s.cwd ?? '.') };
  });
  if (missing.length) throw new Error(`WARDEN_MCP_SERVERS (${file}):\n${missing.join('\n')}`);
  return servers;
}
