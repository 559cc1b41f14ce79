#!/usr/bin/env node
import { runAgentCommand } from './agent-command';

// `warden-agent run --goal …` (the same command as `warden agent run …`)
runAgentCommand(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`warden-agent: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
