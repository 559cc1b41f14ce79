/*
 * The one interface every model sits behind: messages and tool definitions in, one assistant message
 * (text and tool calls) and its token usage out. The agent loop knows nothing else about a provider.
 */

/** A JSON Schema object (what a tool's parameters are described with). */
export type JsonSchema = Record<string, unknown>;

/** A tool the model may call: Warden's name (`fs.write_file`), a description and its arguments' JSON Schema. */
export interface ToolDefinition {
  name: string;
  description: string;
  parameters: JsonSchema;
}

/** One tool call the model proposed. `name` is the tool's Warden name. */
export interface ToolCall {
  id: string;
  name: string;
  args: Record<string, unknown>;
}

/** One message of a conversation, in a shape no provider owns. */
export type ChatMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string }
  | { role: 'assistant'; content: string; toolCalls: ToolCall[] }
  | { role: 'tool'; toolCallId: string; toolName: string; content: string };

/** Tokens a model response used (and its cost when a price is known). */
export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
  /** USD, when the model was given prices; undefined otherwise. */
  costUsd?: number;
}

/** What one model call answered. */
export interface ChatResponse {
  /** The assistant's text (empty when it only called tools). */
  text: string;
  toolCalls: ToolCall[];
  usage: TokenUsage;
  /** The provider's reason to stop (`stop`, `tool-calls`, `length`, …). */
  finishReason: string;
}

/** A request to the model: the whole conversation so far and the tools it may call. */
export interface ChatRequest {
  messages: ChatMessage[];
  tools: ToolDefinition[];
  /** Aborts the provider call. */
  signal?: AbortSignal;
}

/**
 * Any chat model with tool calling. {@link AiSdkChatModel} implements it for every provider the
 * Vercel AI SDK reaches; tests may implement it directly.
 * @example
 * const model: ChatModel = createChatModel('openai:gpt-4o-mini');
 * const r = await model.chat({ messages: [{ role: 'user', content: 'hi' }], tools: [] });
 */
export interface ChatModel {
  /** `provider:model`, for logs and run metadata. */
  readonly id: string;
  chat(request: ChatRequest): Promise<ChatResponse>;
}

/** Zero usage. */
export const NO_USAGE: TokenUsage = Object.freeze({ inputTokens: 0, outputTokens: 0, totalTokens: 0 });

/**
 * The sum of two usages (cost present when either has one).
 * @example addUsage({ inputTokens: 1, outputTokens: 2, totalTokens: 3 }, NO_USAGE).totalTokens // 3
 */
export function addUsage(a: TokenUsage, b: TokenUsage): TokenUsage {
  const cost = a.costUsd === undefined && b.costUsd === undefined ? undefined : (a.costUsd ?? 0) + (b.costUsd ?? 0);
  return {
    inputTokens: a.inputTokens + b.inputTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    totalTokens: a.totalTokens + b.totalTokens,
    ...(cost === undefined ? {} : { costUsd: cost }),
  };
}
