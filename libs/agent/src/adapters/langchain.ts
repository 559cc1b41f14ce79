import { randomUUID } from 'node:crypto';
import { DynamicStructuredTool, type StructuredToolInterface, type ToolRunnableConfig } from '@langchain/core/tools';
import { guardedGate, wardenGate, type GateClient } from '../gate/gate';
import { providerToolName } from '../model/ai-sdk-chat-model';
import { roleToolDefinitions } from '../loop/role-tools';
import { wardenToolName } from './names';
import { gatedCall, type WardenAdapterOptions } from './common';

/** The model reads a LangChain tool's result as text: objects (a refusal, JSON output) go as JSON. */
function asText(v: unknown): unknown {
  return typeof v === 'string' || v === undefined ? v : JSON.stringify(v);
}

/**
 * Gates LangChain.js tools (one line): each `invoke` runs the original tool in your process only once
 * Warden allows it (decision, the approvers when it escalates, a single-use grant, the outcome
 * reported). A refusal comes back as the tool's result — JSON text `{"status":"denied","executed":
 * false,"reasons":[…],"rule_ids":[…]}` — that the model reads, not an exception (unless
 * `onRefusal: 'throw'`). Name tools `<namespace>__<name>` or map them with `names`.
 * @example
 * const [write] = wardenLangChainTools(client, [tool(writeFile, { name: 'fs__write_file', schema })]);
 * const agent = model.bindTools([write]);
 */
export function wardenLangChainTools(
  client: GateClient,
  tools: StructuredToolInterface[],
  options: WardenAdapterOptions = {},
): DynamicStructuredTool[] {
  const opts = { ...options, session: options.session ?? `langchain-${randomUUID()}` };
  return tools.map((t) => {
    const name = wardenToolName(t.name, options.names);
    const gate = guardedGate(client, (args) => t.invoke(args), {
      onEscalation: opts.onEscalation ?? 'wait',
      ...(opts.onBackgroundError ? { onBackgroundError: opts.onBackgroundError } : {}),
    });
    return new DynamicStructuredTool({
      name: t.name,
      description: t.description,
      schema: t.schema as never,
      func: async (input: Record<string, unknown>, _run?: unknown, config?: ToolRunnableConfig) =>
        asText(await gatedCall(gate, name, input, config?.toolCall?.id, opts)),
    });
  });
}

/**
 * The worker tools of a role as LangChain tools, run by Warden's workers (the same tools and JSON
 * Schemas the MCP gateway lists). Names are provider-safe (`fs__write_file`).
 * @example const tools = wardenLangChainWorkerTools(client, { role: 'dev' }); const bound = model.bindTools(tools);
 */
export function wardenLangChainWorkerTools(
  client: GateClient,
  options: WardenAdapterOptions & { role: string; tools?: readonly string[] },
): DynamicStructuredTool[] {
  const opts = { ...options, session: options.session ?? `langchain-${randomUUID()}` };
  const gate = wardenGate(client, { onEscalation: opts.onEscalation ?? 'wait' });
  return roleToolDefinitions(options.role, options.tools).map(
    (def) =>
      new DynamicStructuredTool({
        name: providerToolName(def.name),
        description: def.description,
        schema: def.parameters as never,
        func: async (input: Record<string, unknown>, _run?: unknown, config?: ToolRunnableConfig) =>
          asText(await gatedCall(gate, def.name, input, config?.toolCall?.id, opts)),
      }),
  );
}
