import { randomUUID } from 'node:crypto';
import { jsonSchema, tool, type ToolExecutionOptions, type ToolSet } from 'ai';
import { guardedGate, wardenGate, type GateClient } from '../gate/gate';
import { providerToolName } from '../model/ai-sdk-chat-model';
import { roleToolDefinitions } from '../loop/role-tools';
import { gatedCall, type WardenAdapterOptions } from './common';
import { wardenToolName } from './names';

/**
 * Gates every tool of a Vercel AI SDK tool set (one line): each `execute` runs in your process only
 * once Warden allows it (decision, and the approvers when it escalates; a single-use grant; the
 * outcome reported to the run's timeline). Refusals come back as the tool's result — `{status:
 * 'denied', executed: false, reasons, rule_ids, …}` — so the model can change course. Name tools
 * `<namespace>__<name>` (providers allow no dot) or map them with `names`.
 * @example
 * const tools = wardenTools(client, {
 *   crm__update_contact: tool({ description: '…', inputSchema: z.object({ id: z.string() }), execute: updateContact }),
 * });
 * await generateText({ model, tools, prompt, stopWhen: stepCountIs(5) });
 */
export function wardenTools<T extends ToolSet>(client: GateClient, tools: T, options: WardenAdapterOptions = {}): T {
  const opts = { ...options, session: options.session ?? `ai-sdk-${randomUUID()}` };
  const wrapped: ToolSet = {};
  for (const [key, t] of Object.entries(tools)) {
    const name = wardenToolName(key, options.names);
    const original = t.execute;
    if (!original) {
      // a tool with no execute is one Warden's workers run
      const gate = wardenGate(client, { onEscalation: opts.onEscalation ?? 'wait' });
      wrapped[key] = {
        ...t,
        execute: (input: unknown, o: ToolExecutionOptions) => gatedCall(gate, name, asArgs(input), o.toolCallId, opts),
      } as ToolSet[string];
      continue;
    }
    wrapped[key] = {
      ...t,
      execute: (input: unknown, o: ToolExecutionOptions) => {
        const gate = guardedGate(client, async (args) => lastValue(await original(args as never, o)), {
          onEscalation: opts.onEscalation ?? 'wait',
          ...(opts.onBackgroundError ? { onBackgroundError: opts.onBackgroundError } : {}),
        });
        return gatedCall(gate, name, asArgs(input), o.toolCallId, opts);
      },
    } as ToolSet[string];
  }
  return wrapped as T;
}

/**
 * The worker tools of a role as a Vercel AI SDK tool set, run by Warden's workers (the same tools and
 * JSON Schemas the MCP gateway lists for the role). Keys are provider-safe (`fs__write_file`).
 * @example const tools = wardenWorkerTools(client, { role: 'dev' }); await generateText({ model, tools, prompt });
 */
export function wardenWorkerTools(
  client: GateClient,
  options: WardenAdapterOptions & { role: string; tools?: readonly string[] },
): ToolSet {
  const opts = { ...options, session: options.session ?? `ai-sdk-${randomUUID()}` };
  const gate = wardenGate(client, { onEscalation: opts.onEscalation ?? 'wait' });
  const set: ToolSet = {};
  for (const def of roleToolDefinitions(options.role, options.tools)) {
    set[providerToolName(def.name)] = tool({
      description: def.description,
      inputSchema: jsonSchema<Record<string, unknown>>(def.parameters as Parameters<typeof jsonSchema>[0]),
      execute: (input, o) => gatedCall(gate, def.name, input, o.toolCallId, opts),
    });
  }
  return set;
}

function asArgs(input: unknown): Record<string, unknown> {
  return typeof input === 'object' && input !== null && !Array.isArray(input)
    ? (input as Record<string, unknown>)
    : { input };
}

/** An AI SDK execute may stream (an async iterable): its result is the last value. */
async function lastValue(v: unknown): Promise<unknown> {
  if (v && typeof v === 'object' && Symbol.asyncIterator in v) {
    let last: unknown;
    for await (const x of v as AsyncIterable<unknown>) last = x;
    return last;
  }
  return v;
}
