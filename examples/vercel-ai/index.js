'use strict';
// The Vercel AI SDK (ai@6, the line that runs on Node 20) with every tool gated by Warden in one line:
//  - wardenTools(client, tools): your own tools (here a local git repository) run in this process, only
//    once Warden allows them (bring your own executor: a single-use grant, the outcome reported);
//  - wardenWorkerTools(client, {role}): the role's worker tools, run by Warden's workers.
// Refusals come back to the model as tool results it reads. See README.md.
const { generateText, stepCountIs, tool } = require('ai');
const { z } = require('zod');
const { WardenClient } = require('@warden/client');
const { createLanguageModel, startFakeModelServer, wardenTools, wardenWorkerTools } = require('@warden/agent');

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

  // tools that run here; a name is <namespace>__<name>, the Warden tool policy judges (git.commit …)
  const repo = {
    git__commit: tool({
      description: 'Commit the staged changes of the local repository with a message',
      inputSchema: z.object({ message: z.string() }),
      execute: async ({ message }) => ({ committed: message, at: new Date().toISOString() }),
    }),
    git__reset: tool({
      description: 'Reset the local repository (discards work)',
      inputSchema: z.object({ mode: z.enum(['soft', 'hard']) }),
      execute: async ({ mode }) => ({ reset: mode }),
    }),
  };
  const tools = {
    ...wardenTools(client, repo),
    ...wardenWorkerTools(client, { role: 'dev', tools: ['fs.write_file', 'fs.read_file'] }),
  };

  let fake;
  let model;
  if (process.env.WARDEN_EXAMPLE_MODEL) {
    model = createLanguageModel(process.env.WARDEN_EXAMPLE_MODEL);
  } else {
    fake = await startFakeModelServer({
      script: [
        {
          toolCalls: [
            {
              name: 'fs.write_file',
              args: { path: 'notes/ai-sdk.md', content: 'Written through Warden by the AI SDK.\n' },
            },
            { name: 'git.commit', args: { message: 'notes: ai-sdk' } },
            { name: 'git.reset', args: { mode: 'hard' } },
          ],
        },
        { text: 'Wrote and committed notes/ai-sdk.md; the hard reset was denied by policy (git-reset).' },
      ],
    });
    model = createLanguageModel(`openai-compatible:${fake.openaiBaseURL}#scripted`);
  }
  try {
    const result = await generateText({
      model,
      tools,
      stopWhen: stepCountIs(Number(process.env.WARDEN_EXAMPLE_MAX_STEPS || 5)),
      prompt: 'Write notes/ai-sdk.md saying it was written through Warden, commit it, then hard-reset the repository.',
    });
    for (const step of result.steps)
      for (const r of step.toolResults) console.log(`${r.toolName} → ${JSON.stringify(r.output).slice(0, 200)}`);
    console.log(`answer: ${result.text}`);
    return 0;
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
