import { generateText, jsonSchema, tool, type LanguageModel, type ModelMessage, type ToolSet } from 'ai';
import type { ChatModel, ChatRequest, ChatResponse, ToolCall, ToolDefinition } from './chat-model';

/** USD per million tokens, to put a cost on each response (`usage.cost_usd` of every proposal). */
export interface ModelPrices {
  inputPerMTok: number;
  outputPerMTok: number;
}

/**
 * Provider tool names allow only `[A-Za-z0-9_-]` (OpenAI and Anthropic alike), Warden's are
 * `namespace.name`: `fs.write_file` is offered as `fs__write_file` and mapped back on the way out.
 * @example providerToolName('fs.write_file') // 'fs__write_file'
 */
export function providerToolName(name: string): string {
  return name
    .replace(/\./g, '__')
    .replace(/[^A-Za-z0-9_-]/g, '_')
    .slice(0, 64);
}

/** The provider names of `tools`, both ways; a clash (two Warden names → one provider name) gets a suffix. */
export function toolNameMap(tools: ToolDefinition[]): {
  toProvider: Map<string, string>;
  toWarden: Map<string, string>;
} {
  const toProvider = new Map<string, string>();
  const toWarden = new Map<string, string>();
  for (const t of tools) {
    let candidate = providerToolName(t.name);
    for (let i = 2; toWarden.has(candidate); i++) candidate = `${providerToolName(t.name).slice(0, 60)}_${i}`;
    toProvider.set(t.name, candidate);
    toWarden.set(candidate, t.name);
  }
  return { toProvider, toWarden };
}

/**
 * {@link ChatModel} over any Vercel AI SDK language model (OpenAI, any OpenAI-compatible endpoint,
 * Anthropic, and every other provider package of the SDK). One model call per `chat`: the SDK is
 * given the tools without `execute`, so it returns the tool calls and Warden's loop decides what runs.
 * @example
 * import { createOpenAI } from '@ai-sdk/openai';
 * const model = new AiSdkChatModel('openai:gpt-4o-mini', createOpenAI({ apiKey }).chat('gpt-4o-mini'));
 */
export class AiSdkChatModel implements ChatModel {
  constructor(
    readonly id: string,
    private readonly model: LanguageModel,
    private readonly options: { prices?: ModelPrices; maxRetries?: number; temperature?: number } = {},
  ) {}

  async chat(request: ChatRequest): Promise<ChatResponse> {
    const names = toolNameMap(request.tools);
    const tools: ToolSet = {};
    for (const t of request.tools) {
      tools[names.toProvider.get(t.name)!] = tool({
        description: t.description,
        inputSchema: jsonSchema(t.parameters as Parameters<typeof jsonSchema>[0]),
      });
    }
    const system = request.messages.flatMap((m) => (m.role === 'system' ? [m.content] : [])).join('\n\n');
    const result = await generateText({
      model: this.model,
      ...(system ? { system } : {}),
      messages: toModelMessages(request.messages, names.toProvider),
      ...(request.tools.length ? { tools } : {}),
      maxRetries: this.options.maxRetries ?? 2,
      ...(this.options.temperature === undefined ? {} : { temperature: this.options.temperature }),
      ...(request.signal ? { abortSignal: request.signal } : {}),
    });
    const toolCalls: ToolCall[] = result.toolCalls.map((c) => ({
      id: c.toolCallId,
      name: names.toWarden.get(c.toolName) ?? c.toolName,
      args: isRecord(c.input) ? c.input : {},
    }));
    const inputTokens = result.usage.inputTokens ?? 0;
    const outputTokens = result.usage.outputTokens ?? 0;
    const prices = this.options.prices;
    return {
      text: result.text,
      toolCalls,
      usage: {
        inputTokens,
        outputTokens,
        totalTokens: result.usage.totalTokens ?? inputTokens + outputTokens,
        ...(prices
          ? { costUsd: (inputTokens * prices.inputPerMTok + outputTokens * prices.outputPerMTok) / 1_000_000 }
          : {}),
      },
      finishReason: result.finishReason,
    };
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The conversation as the AI SDK's messages (system messages go to `system`). */
export function toModelMessages(messages: ChatRequest['messages'], toProvider: Map<string, string>): ModelMessage[] {
  const name = (n: string) => toProvider.get(n) ?? providerToolName(n);
  const out: ModelMessage[] = [];
  for (const m of messages) {
    switch (m.role) {
      case 'system':
        break;
      case 'user':
        out.push({ role: 'user', content: m.content });
        break;
      case 'assistant':
        out.push({
          role: 'assistant',
          content: [
            ...(m.content ? [{ type: 'text' as const, text: m.content }] : []),
            ...m.toolCalls.map((c) => ({
              type: 'tool-call' as const,
              toolCallId: c.id,
              toolName: name(c.name),
              input: c.args,
            })),
          ],
        });
        break;
      case 'tool': {
        const part = {
          type: 'tool-result' as const,
          toolCallId: m.toolCallId,
          toolName: name(m.toolName),
          output: { type: 'text' as const, value: m.content },
        };
        // consecutive tool results answer one assistant message: one tool message holds them all
        const last = out[out.length - 1];
        if (last?.role === 'tool') last.content.push(part);
        else out.push({ role: 'tool', content: [part] });
        break;
      }
    }
  }
  return out;
}
