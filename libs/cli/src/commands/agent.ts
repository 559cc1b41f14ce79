/**
 * `warden agent …`: the reference agent (`@warden/agent`, docs/agents.md). Every argument after
 * `agent`, `--help` included, goes to that package's own command; it loads only when used.
 */
import { passThrough, type CommandModule } from '../program';

const usage = `Agent (WARDEN_URL, WARDEN_API_KEY; docs/agents.md):
  agent run --goal "…" --role dev [--model provider:model] [--max-steps n]
                                             the reference agent: every tool call it makes goes through Warden
                                             (warden agent --help for every option)`;

export const agentCommands: CommandModule = {
  usage,
  register: (program, ctx) =>
    passThrough(program, ctx, 'agent', 'run the reference agent behind Warden', async (argv, io) => {
      const { runAgentCommand } = await import('@warden/agent');
      return runAgentCommand(argv, {
        env: io.env as NodeJS.ProcessEnv,
        stdout: (l) => void io.stdout.write(`${l}\n`),
        stderr: (l) => void io.stderr.write(`${l}\n`),
      });
    }),
};
