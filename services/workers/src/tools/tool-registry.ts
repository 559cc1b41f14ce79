import { DEFAULT_ROLE_TOOLS, toolPatternMatches as matches } from '@warden/contracts';
import { endpointNameOk, deployCanaryTool, deployTool, prCloseTool, prOpenTool } from './endpoint.tools';
import { deleteTool } from './fs-delete.tool';
import { listDirTool } from './fs-list-dir.tool';
import { readFileTool } from './fs-read-file.tool';
import { writeFileTool } from './fs-write-file.tool';
import { emailDraftTool, emailSendTool } from './email-send.tool';
import { gitTools } from './git.tools';
import { httpGetTool, httpRequestTool } from './http.tools';
import { shellExecTool } from './shell-exec.tool';
import type { Tool } from './domain/tool';

/** Every built-in tool with a fixed name (`deploy.<target>` tools are made on demand). */
export const BUILTIN_TOOLS: readonly Tool[] = [
  readFileTool,
  writeFileTool,
  listDirTool,
  deleteTool,
  ...gitTools,
  httpGetTool,
  httpRequestTool,
  shellExecTool,
  emailSendTool,
  emailDraftTool,
  prOpenTool,
  prCloseTool,
  deployCanaryTool,
];

/**
 * The tools of each role (`libs/contracts` tools.ts, shared with policy's rewrite checks); `*`
 * matches the rest of a name. Override with `WORKER_ROLE_TOOLS`.
 */
export { DEFAULT_ROLE_TOOLS };

/**
 * Tools that exist beside the built-in ones (an upstream MCP server's `<server>.<tool>`): each
 * source decides which role may run them (`role` undefined: any role, for labels and idempotency).
 */
export interface ToolSource {
  tool(name: string, role?: string): Tool | undefined;
  /** A bounded metric label for one of its tools. */
  label?(name: string): string | undefined;
}

/**
 * Tools by name. `forRole` gives the registry a role's worker uses: it knows only that role's tools,
 * so a signed command for any other tool is refused before anything runs.
 * @example new ToolRegistry().forRole('research').get('fs.write_file') // undefined
 */
export class ToolRegistry {
  private readonly tools: Map<string, Tool>;
  private readonly deploys = new Map<string, Tool>();

  constructor(
    tools: readonly Tool[] = BUILTIN_TOOLS,
    private readonly patterns: readonly string[] = ['*'],
    private readonly roleTools: Readonly<Record<string, readonly string[]>> = DEFAULT_ROLE_TOOLS,
    private readonly sources: readonly ToolSource[] = [],
    /** The role of a {@link forRole} registry (the sources' tools are per role). */
    private readonly role?: string,
  ) {
    this.tools = new Map(tools.map((t) => [t.name, t]));
  }

  get(name: string): Tool | undefined {
    for (const s of this.sources) {
      const t = s.tool(name, this.role);
      if (t) return t;
    }
    if (!this.patterns.some((p) => matches(p, name))) return undefined;
    const fixed = this.tools.get(name);
    if (fixed) return fixed;
    const deploy = /^deploy\.([a-z][a-z0-9_-]*)$/.exec(name);
    if (!deploy || !endpointNameOk(deploy[1]!)) return undefined;
    let tool = this.deploys.get(name);
    if (!tool) this.deploys.set(name, (tool = deployTool(deploy[1]!)));
    return tool;
  }

  names(): string[] {
    return [...this.tools.keys()].filter((n) => this.patterns.some((p) => matches(p, n)));
  }

  /** The name patterns of a role's tools. */
  rolePatterns(role: string): string[] {
    return [...(this.roleTools[role] ?? [])];
  }

  /** A bounded metric label from a source (`<server>.*`), if one has the tool. */
  sourceLabel(name: string): string | undefined {
    for (const s of this.sources) {
      const l = s.label?.(name);
      if (l) return l;
    }
    return undefined;
  }

  /** The registry of one role (no tools for a role nobody configured). */
  forRole(role: string): ToolRegistry {
    return new ToolRegistry([...this.tools.values()], this.roleTools[role] ?? [], this.roleTools, this.sources, role);
  }
}
