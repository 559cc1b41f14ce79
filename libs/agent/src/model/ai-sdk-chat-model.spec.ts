import { startFakeModelServer, type FakeModelServer } from '../testing/fake-model-server';
import { roleToolDefinitions } from '../loop/role-tools';
import { createChatModel } from './model-spec';
import { providerToolName, toolNameMap } from './ai-sdk-chat-model';
import type { ChatMessage } from './chat-model';

const tools = roleToolDefinitions('dev', ['fs.write_file', 'fs.read_file']);

describe('the provider-neutral model layer over real HTTP (a scripted OpenAI-compatible and Anthropic server)', () => {
  let fake: FakeModelServer;
  afterEach(async () => fake?.close());

  const script = () => [
    {
      text: 'writing it',
      toolCalls: [{ name: 'fs.write_file', args: { path: 'a.md', content: 'hi' }, id: 'call_1' }],
      usage: { inputTokens: 321, outputTokens: 12 },
    },
    { text: 'done', usage: { inputTokens: 400, outputTokens: 3 } },
  ];

  const conversation = (): ChatMessage[] => [
    { role: 'system', content: 'be brief' },
    { role: 'user', content: 'write a.md' },
  ];

  it.each([
    [
      'openai-compatible',
      (f: FakeModelServer) => createChatModel(`openai-compatible:${f.openaiBaseURL}#fake-model`, { env: {} }),
    ],
    [
      'openai',
      (f: FakeModelServer) =>
        createChatModel('openai:gpt-4o-mini', { env: { OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: f.openaiBaseURL } }),
    ],
    [
      'anthropic',
      (f: FakeModelServer) =>
        createChatModel('anthropic:claude-sonnet-4-5', {
          env: { ANTHROPIC_API_KEY: 'sk-ant-test', ANTHROPIC_BASE_URL: f.anthropicBaseURL },
          prices: { inputPerMTok: 3, outputPerMTok: 15 },
        }),
    ],
  ])(
    '%s: tool calls come back under Warden names with their usage; tool results go back to the provider',
    async (_name, make) => {
      fake = await startFakeModelServer({ script: script() });
      const model = make(fake);
      const messages = conversation();
      const first = await model.chat({ messages, tools });
      expect(first.toolCalls).toEqual([{ id: 'call_1', name: 'fs.write_file', args: { path: 'a.md', content: 'hi' } }]);
      expect(first.usage).toMatchObject({ inputTokens: 321, outputTokens: 12, totalTokens: 333 });
      if (_name === 'anthropic') expect(first.usage.costUsd).toBeCloseTo((321 * 3 + 12 * 15) / 1e6, 12);

      messages.push({ role: 'assistant', content: first.text, toolCalls: first.toolCalls });
      messages.push({
        role: 'tool',
        toolCallId: 'call_1',
        toolName: 'fs.write_file',
        content: '{"status":"denied","executed":false}',
      });
      const second = await model.chat({ messages, tools });
      expect(second).toMatchObject({ text: 'done', toolCalls: [] });

      // what the provider saw: tools under provider-safe names with their JSON Schemas, then the tool result
      const [req1, req2] = fake.requests.map((r) => JSON.stringify(r.body));
      expect(req1).toContain('"fs__write_file"');
      expect(req1).toContain('"content"');
      expect(req2).toContain('call_1');
      expect(req2).toContain('\\"status\\":\\"denied\\"');
      expect(fake.requests[0]!.api).toBe(_name === 'anthropic' ? 'anthropic' : 'openai');
    },
  );

  it('maps dotted names to provider-safe ones both ways, without clashes', () => {
    expect(providerToolName('fs.write_file')).toBe('fs__write_file');
    expect(providerToolName('everything.get-sum')).toBe('everything__get-sum');
    const m = toolNameMap([
      { name: 'a.b', description: '', parameters: {} },
      { name: 'a__b', description: '', parameters: {} },
    ]);
    expect(new Set(m.toProvider.values()).size).toBe(2);
    for (const [warden, provider] of m.toProvider) expect(m.toWarden.get(provider)).toBe(warden);
  });
});
