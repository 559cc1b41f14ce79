'use strict';
// LangChain.js (@langchain/core 1.x) tools gated by Warden in one line: wardenLangChainTools(client, tools).
// Each invoke runs the tool here only once Warden allows it; a refusal comes back as the ToolMessage the
// model reads. The model side uses @warden/agent's provider-neutral ChatModel (the fake, or a real model
// by WARDEN_EXAMPLE_MODEL): @langchain/openai 1.x needs Node 22, this repository runs on Node 20. With a
// LangChain chat model you would `model.bindTools(tools)` and invoke the tools with its tool calls the same way.
const { tool } = require('@langchain/core/tools');
const { z } = require('zod');
const { WardenClient } = require('@warden/client');
const { createChatModel, startFakeModelServer, wardenLangChainTools, wardenToolName } = require('@warden/agent');

async function main() {
  const apiKey = process.env.WARDEN_API_KEY;
  const agentId = process.env.WARDEN_AGENT_ID;
  if (!apiKey || !agentId) throw new Error('set WARDEN_API_KEY and WARDEN_AGENT_ID (see README.md)');
  const client = new WardenClient({
    baseUrl: process.env.WARDEN_URL || 'http://127.0.0.1:7101',
    orchestratorUrl: process.env.WARDEN_ORCHESTRATOR_URL || 'http://127.0.0.1:7103',
    apiKey,
    agent: { id: agentId, role: process.env.WARDEN_ROLE || 'dev' },
  });

  const commit = tool(async ({ message }) => `committed "${message}"`, {
    name: 'git__commit',
    description: 'Commit the staged changes of the local repository with a message',
    schema: z.object({ message: z.string() }),
  });
  const reset = tool(async ({ mode }) => `reset --${mode}`, {
    name: 'git__reset',
    description: 'Reset the local repository (discards work)',
    schema: z.object({ mode: z.enum(['soft', 'hard']) }),
  });
  const tools = wardenLangChainTools(client, [commit, reset]);
  const byName = new Map(tools.map((t) => [t.name, t]));

  let fake;
  let spec = process.env.WARDEN_EXAMPLE_MODEL;
  if (!spec) {
    fake = await startFakeModelServer({
      script: [
        {
          toolCalls: [
            { name: 'git.commit', args: { message: 'wip' } },
            { name: 'git.reset', args: { mode: 'hard' } },
          ],
        },
        { text: 'Committed; the hard reset was denied by policy.' },
      ],
    });
    spec = `openai-compatible:${fake.openaiBaseURL}#scripted`;
  }
  const model = createChatModel(spec);
  const definitions = tools.map((t) => ({
    name: wardenToolName(t.name),
    description: t.description,
    parameters: z.toJSONSchema(t.schema),
  }));
  const messages = [{ role: 'user', content: 'Commit the work in progress, then hard-reset the repository.' }];
  try {
    for (let step = 1; step <= Number(process.env.WARDEN_EXAMPLE_MAX_STEPS || 5); step++) {
      const r = await model.chat({ messages, tools: definitions });
      messages.push({ role: 'assistant', content: r.text, toolCalls: r.toolCalls });
      if (r.toolCalls.length === 0) {
        console.log(`answer: ${r.text}`);
        return 0;
      }
      for (const call of r.toolCalls) {
        const t = byName.get(call.name.replace('.', '__'));
        // invoked with the model's tool call, a LangChain tool answers a ToolMessage for that call id
        const msg = await t.invoke({ id: call.id, name: t.name, args: call.args, type: 'tool_call' });
        console.log(`${call.name} → ${String(msg.content).slice(0, 200)}`);
        messages.push({ role: 'tool', toolCallId: call.id, toolName: call.name, content: String(msg.content) });
      }
    }
    console.log('stopped at the step limit');
    return 3;
  } finally {
    await fake?.close();
  }
}

main().then(
  (code) => (process.exitCode = code),
  (err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  },
);
