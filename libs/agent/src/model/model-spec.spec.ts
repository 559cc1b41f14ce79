import { createChatModel, ModelSpecError, parseModelSpec } from './model-spec';

describe('--model provider:model', () => {
  it('parses each provider, with local servers as OpenAI-compatible endpoints', () => {
    expect(parseModelSpec('openai:gpt-4o-mini')).toEqual({ provider: 'openai', model: 'gpt-4o-mini' });
    expect(parseModelSpec('anthropic:claude-sonnet-4-5')).toEqual({
      provider: 'anthropic',
      model: 'claude-sonnet-4-5',
    });
    expect(parseModelSpec('openai-compatible:http://gpu:8000/v1#Qwen/Qwen2.5-7B:instruct')).toEqual({
      provider: 'openai-compatible',
      baseURL: 'http://gpu:8000/v1',
      model: 'Qwen/Qwen2.5-7B:instruct',
      name: 'openai-compatible',
    });
    expect(parseModelSpec('ollama:llama3.1', {})).toMatchObject({
      baseURL: 'http://127.0.0.1:11434/v1',
      model: 'llama3.1',
    });
    expect(parseModelSpec('lmstudio:qwen', { LMSTUDIO_BASE_URL: 'http://box:1234/v1' })).toMatchObject({
      baseURL: 'http://box:1234/v1',
    });
    expect(parseModelSpec('vllm:m', {})).toMatchObject({ baseURL: 'http://127.0.0.1:8000/v1' });
  });

  it('refuses a malformed value with a message that states the syntax', () => {
    for (const bad of [
      'gpt-4o',
      'openai:',
      ':x',
      'mystery:model',
      'openai-compatible:gpu:8000#m',
      'openai-compatible:http://gpu/v1',
    ]) {
      expect(() => parseModelSpec(bad)).toThrow(ModelSpecError);
    }
    expect(() => parseModelSpec('mystery:model')).toThrow(/unknown provider "mystery".*openai:<model>/);
  });

  it('needs the provider key from the environment, never from the command line', () => {
    expect(() => createChatModel('openai:gpt-4o-mini', { env: {} })).toThrow('openai: set OPENAI_API_KEY');
    expect(() => createChatModel('anthropic:claude-sonnet-4-5', { env: {} })).toThrow(
      'anthropic: set ANTHROPIC_API_KEY',
    );
    expect(createChatModel('openai:gpt-4o-mini', { env: { OPENAI_API_KEY: 'sk-test' } }).id).toBe('openai:gpt-4o-mini');
    // a local server needs no key
    expect(createChatModel('ollama:llama3.1', { env: {} }).id).toBe('ollama:llama3.1');
  });
});
