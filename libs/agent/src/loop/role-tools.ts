import { z } from 'zod';
import { roleToolNames, toolArgsSchema, toolInfo } from '@warden/contracts';
import type { JsonSchema, ToolDefinition } from '../model/chat-model';

const cache = new Map<string, ToolDefinition>();

/**
 * The definition a model is given of one worker tool: the description and JSON Schema the MCP gateway
 * lists too (both derived from `@warden/contracts`' tool table; `io: 'input'`, so defaults are optional).
 * @example workerToolDefinition('fs.read_file')?.parameters.required // ['path']
 */
export function workerToolDefinition(name: string): ToolDefinition | undefined {
  const hit = cache.get(name);
  if (hit) return hit;
  const schema = toolArgsSchema(name);
  const info = toolInfo(name);
  if (!schema || !info) return undefined;
  const { $schema: _drop, ...parameters } = z.toJSONSchema(schema, {
    io: 'input',
    unrepresentable: 'any',
  }) as JsonSchema;
  const def: ToolDefinition = { name, description: info.description, parameters: { ...parameters, type: 'object' } };
  cache.set(name, def);
  return def;
}

/**
 * The tools an agent of `role` is offered: the role's worker tools (the same list `tools/list` of the
 * MCP gateway gives that role). `only` narrows it to the named tools.
 * @example roleToolDefinitions('research').map((t) => t.name) // ['fs.list_dir', 'fs.read_file', 'http.get']
 */
export function roleToolDefinitions(role: string, only?: readonly string[]): ToolDefinition[] {
  const names = roleToolNames(role).filter((n) => !only || only.includes(n));
  return names.flatMap((n) => workerToolDefinition(n) ?? []);
}
