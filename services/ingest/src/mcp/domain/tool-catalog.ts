import { z } from 'zod';
import { roleToolNames, toolArgsSchema, toolInfo, type FieldError } from '@warden/contracts';
import type { McpToolListing } from './upstream-catalog';

/** The gateway's own tool: resume waiting for a run this agent proposed. */
export const AWAIT_RUN_TOOL = 'warden.await_run';

export const AwaitRunArgs = z.strictObject({
  run_id: z.uuid().describe('The run id a earlier call returned while it was waiting (in _meta["warden/run"].run_id).'),
});

/** JSON Schema of a zod argument schema as MCP's `inputSchema` (what a client may send: defaults optional). */
export function inputSchemaOf(schema: z.ZodType): McpToolListing['inputSchema'] {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  const { $schema: _drop, ...rest } = json;
  return { ...rest, type: 'object' } as McpToolListing['inputSchema'];
}

const listingCache = new Map<string, McpToolListing>();

/** The listing of one worker tool (derived once from its schema and {@link toolInfo}). */
export function workerToolListing(name: string): McpToolListing | undefined {
  const cached = listingCache.get(name);
  if (cached) return cached;
  const schema = toolArgsSchema(name);
  const info = toolInfo(name);
  if (!schema || !info) return undefined;
  const listing: McpToolListing = {
    name,
    description: info.description,
    inputSchema: inputSchemaOf(schema),
    annotations: { ...info.annotations },
  };
  listingCache.set(name, listing);
  return listing;
}

/** `warden.await_run`: read-only, it only waits. */
export const AWAIT_RUN_LISTING: McpToolListing = {
  name: AWAIT_RUN_TOOL,
  description:
    'Wait for the outcome of a run an earlier tool call started, when that call answered that it is still ' +
    'waiting (for example for a human approval). Returns the same result the original call would have ' +
    'returned, or says again that it is still waiting. Only runs of your own agent.',
  inputSchema: inputSchemaOf(AwaitRunArgs),
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
};

/** The worker tools of `role`, as listed by `tools/list` (nothing outside the role). */
export function workerToolsFor(role: string): McpToolListing[] {
  return roleToolNames(role).flatMap((name) => workerToolListing(name) ?? []);
}

/**
 * Field errors of `args` by a worker tool's schema: each path as `arguments.<field>` (what the model
 * sent), unknown fields named one by one. Empty when valid.
 * @example argumentErrors('fs.write_file', { path: 1 }) // [{path:'arguments.path',…}, {path:'arguments.content',…}]
 */
export function argumentErrors(schema: z.ZodType, args: unknown): FieldError[] {
  const r = schema.safeParse(args ?? {});
  if (r.success) return [];
  const errors: FieldError[] = [];
  for (const i of r.error.issues) {
    if (i.code === 'unrecognized_keys') {
      for (const k of i.keys)
        errors.push({ path: ['arguments', ...i.path.map(String), k].join('.'), message: 'unknown field' });
      continue;
    }
    errors.push({ path: ['arguments', ...i.path.map(String)].join('.'), message: i.message });
  }
  return errors;
}
