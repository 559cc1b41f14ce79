import { createAnthropic } from '@ai-sdk/anthropic';
import { createOpenAI } from '@ai-sdk/openai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import type { LanguageModel } from 'ai';
import { AiSdkChatModel, type ModelPrices } from './ai-sdk-chat-model';
import type { ChatModel } from './chat-model';

/*
 * `--model` syntax (docs/agents.md "Models"):
 *   openai:<model>                          OpenAI (OPENAI_API_KEY; OPENAI_BASE_URL to point elsewhere)
 *   anthropic:<model>                       Anthropic (ANTHROPIC_API_KEY; ANTHROPIC_BASE_URL)
 *   openai-compatible:<base-url>#<model>    any OpenAI-compatible chat completions endpoint (vLLM, a
 *                                           gateway, a fake); key from OPENAI_COMPATIBLE_API_KEY if set
 *   ollama:<model>                          = openai-compatible:http://127.0.0.1:11434/v1#<model>
 *   lmstudio:<model>                        = openai-compatible:http://127.0.0.1:1234/v1#<model>
 *   vllm:<model>                            = openai-compatible:http://127.0.0.1:8000/v1#<model>
 * (OLLAMA_BASE_URL, LMSTUDIO_BASE_URL, VLLM_BASE_URL override those local defaults.)
 */

/** A parsed `--model` value. */
export type ModelSpec =
  | { provider: 'openai'; model: string }
  | { provider: 'anthropic'; model: string }
  | { provider: 'openai-compatible'; baseURL: string; model: string; name: string };

/** An invalid `--model` value; the message says what the syntax is. */
export class ModelSpecError extends Error {
  override readonly name = 'ModelSpecError';
}

export const MODEL_SYNTAX =
  'openai:<model>, anthropic:<model>, openai-compatible:<base-url>#<model>, ollama:<model>, lmstudio:<model> or vllm:<model>';

const LOCAL: Record<string, { env: string; url: string }> = {
  ollama: { env: 'OLLAMA_BASE_URL', url: 'http://127.0.0.1:11434/v1' },
  lmstudio: { env: 'LMSTUDIO_BASE_URL', url: 'http://127.0.0.1:1234/v1' },
  vllm: { env: 'VLLM_BASE_URL', url: 'http://127.0.0.1:8000/v1' },
};

/**
 * Parses `provider:model`.
 * @example parseModelSpec('openai-compatible:http://127.0.0.1:8000/v1#qwen2.5')
 *   // { provider: 'openai-compatible', baseURL: 'http://127.0.0.1:8000/v1', model: 'qwen2.5', name: 'openai-compatible' }
 */
export function parseModelSpec(spec: string, env: NodeJS.ProcessEnv = process.env): ModelSpec {
  const colon = spec.indexOf(':');
  const provider = colon > 0 ? spec.slice(0, colon) : '';
  const rest = colon > 0 ? spec.slice(colon + 1) : '';
  if (!provider || !rest) throw new ModelSpecError(`--model "${spec}": expected ${MODEL_SYNTAX}`);
  switch (provider) {
    case 'openai':
    case 'anthropic':
      return { provider, model: rest };
    case 'openai-compatible': {
      const hash = rest.lastIndexOf('#');
      const baseURL = hash > 0 ? rest.slice(0, hash) : '';
      const model = hash > 0 ? rest.slice(hash + 1) : '';
      if (!model || !/^https?:\/\/[^\s#]+$/.test(baseURL))
        throw new ModelSpecError(`--model "${spec}": expected openai-compatible:<http(s) base URL>#<model>`);
      return { provider, baseURL, model, name: 'openai-compatible' };
    }
    default: {
      const local = LOCAL[provider];
      if (!local)
        throw new ModelSpecError(`--model "${spec}": unknown provider "${provider}"; expected ${MODEL_SYNTAX}`);
      return { provider: 'openai-compatible', baseURL: env[local.env] || local.url, model: rest, name: provider };
    }
  }
}

/** Options for {@link createChatModel}. */
export interface CreateChatModelOptions {
  env?: NodeJS.ProcessEnv;
  prices?: ModelPrices;
  temperature?: number;
  maxRetries?: number;
}

/**
 * The Vercel AI SDK language model a `--model` value names (for code that uses the AI SDK directly,
 * e.g. `generateText({ model: createLanguageModel('openai:gpt-4o-mini'), tools: wardenTools(…) })`).
 * Keys come from the environment.
 * @example const model = createLanguageModel('ollama:llama3.1');
 */
export function createLanguageModel(spec: string, env: NodeJS.ProcessEnv = process.env): LanguageModel {
  const parsed = parseModelSpec(spec, env);
  switch (parsed.provider) {
    case 'openai': {
      const apiKey = env.OPENAI_API_KEY;
      if (!apiKey) throw new ModelSpecError('openai: set OPENAI_API_KEY');
      const provider = createOpenAI({ apiKey, ...(env.OPENAI_BASE_URL ? { baseURL: env.OPENAI_BASE_URL } : {}) });
      // chat completions: the API every OpenAI-compatible server speaks too
      return provider.chat(parsed.model);
    }
    case 'anthropic': {
      const apiKey = env.ANTHROPIC_API_KEY;
      if (!apiKey) throw new ModelSpecError('anthropic: set ANTHROPIC_API_KEY');
      const provider = createAnthropic({
        apiKey,
        ...(env.ANTHROPIC_BASE_URL ? { baseURL: env.ANTHROPIC_BASE_URL } : {}),
      });
      return provider(parsed.model);
    }
    case 'openai-compatible': {
      const apiKey = env.OPENAI_COMPATIBLE_API_KEY;
      const provider = createOpenAICompatible({
        name: parsed.name,
        baseURL: parsed.baseURL,
        ...(apiKey ? { apiKey } : {}),
        includeUsage: true,
      });
      return provider.chatModel(parsed.model);
    }
  }
}

/**
 * A {@link ChatModel} from a `--model` value, keys from the environment (never from arguments, so
 * they stay out of shell history and process lists).
 * @example const model = createChatModel('anthropic:claude-sonnet-4-5'); // reads ANTHROPIC_API_KEY
 */
export function createChatModel(spec: string, options: CreateChatModelOptions = {}): ChatModel {
  const model = createLanguageModel(spec, options.env ?? process.env);
  return new AiSdkChatModel(spec, model, {
    ...(options.prices ? { prices: options.prices } : {}),
    ...(options.temperature === undefined ? {} : { temperature: options.temperature }),
    ...(options.maxRetries === undefined ? {} : { maxRetries: options.maxRetries }),
  });
}
