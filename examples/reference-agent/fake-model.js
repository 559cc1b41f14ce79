'use strict';
// A scripted OpenAI-compatible model on http://127.0.0.1:${PORT:-8787}/v1, for trying
// `warden-agent run` without a key: it writes notes/cli-hello.md through Warden, then answers.
const { startFakeModelServer } = require('@warden/agent');

startFakeModelServer({
  port: Number(process.env.PORT || 8787),
  script: [
    {
      text: 'Writing the note.',
      toolCalls: [
        { name: 'fs.write_file', args: { path: 'notes/cli-hello.md', content: 'Hello from warden agent run.\n' } },
      ],
    },
    { text: 'Wrote notes/cli-hello.md.' },
  ],
}).then((fake) => {
  console.log(`scripted model on ${fake.openaiBaseURL} — use --model openai-compatible:${fake.openaiBaseURL}#scripted`);
  console.log('it answers each script once; restart it to run the agent again (Ctrl-C to stop)');
});
