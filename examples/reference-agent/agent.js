'use strict';
// The reference agent as a library: runAgent with a model behind the provider-neutral ChatModel.
// Run it against `npm start` (see README.md). Without WARDEN_EXAMPLE_MODEL it talks to a scripted fake
// model (no key, no network); with WARDEN_EXAMPLE_MODEL=openai:gpt-4o-mini (etc.) to a real one.
const { WardenClient } = require('@warden/client');
const { createChatModel, outcomeSummary, runAgent, startFakeModelServer } = require('@warden/agent');

const GOAL =
  process.env.WARDEN_EXAMPLE_GOAL || 'Write a short note to notes/agent-hello.md saying hello from the agent.';

async function main() {
  const apiKey = process.env.WARDEN_API_KEY;
  const agentId = process.env.WARDEN_AGENT_ID;
  if (!apiKey || !agentId) throw new Error('set WARDEN_API_KEY and WARDEN_AGENT_ID (see README.md)');
  const role = process.env.WARDEN_ROLE || 'dev';
  const client = new WardenClient({
    baseUrl: process.env.WARDEN_URL || 'http://127.0.0.1:7101',
    orchestratorUrl: process.env.WARDEN_ORCHESTRATOR_URL || 'http://127.0.0.1:7103',
    apiKey,
    agent: { id: agentId, role },
  });

  let fake;
  let spec = process.env.WARDEN_EXAMPLE_MODEL;
  if (!spec) {
    // what a model would do: write the note, try a path outside the workspace (Warden denies it), answer
    fake = await startFakeModelServer({
      script: [
        {
          text: 'Writing the note.',
          toolCalls: [
            { name: 'fs.write_file', args: { path: 'notes/agent-hello.md', content: 'Hello from the agent.\n' } },
          ],
        },
        {
          text: 'Also keeping a copy outside.',
          toolCalls: [{ name: 'fs.write_file', args: { path: '../outside.md', content: 'copy' } }],
        },
        { text: 'Wrote notes/agent-hello.md; the copy outside the workspace was refused by policy.' },
      ],
    });
    spec = `openai-compatible:${fake.openaiBaseURL}#scripted`;
  }
  try {
    const result = await runAgent({
      goal: GOAL,
      role,
      model: createChatModel(spec),
      client,
      maxSteps: Number(process.env.WARDEN_EXAMPLE_MAX_STEPS || 10),
      onEvent: (e) => {
        if (e.type === 'call')
          console.log(`[${e.step}] ${e.tool} ${JSON.stringify(e.args)} → ${outcomeSummary(e.outcome)}`);
      },
    });
    console.log(
      `stopped: ${result.stopReason} after ${result.steps} step(s), ${result.usage.totalTokens} tokens, session ${result.session}`,
    );
    console.log(`answer: ${result.answer}`);
    return result.stopReason === 'answered' ? 0 : 3;
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
