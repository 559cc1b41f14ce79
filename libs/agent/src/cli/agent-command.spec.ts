import { runAgentCommand } from './agent-command';

async function run(argv: string[], env: NodeJS.ProcessEnv = { WARDEN_API_KEY: 'wk_test', WARDEN_AGENT_ID: 'agent-1' }) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runAgentCommand(argv, { env, stdout: (l) => out.push(l), stderr: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('warden agent: usage errors say what is wrong and exit 2 before anything is proposed', () => {
  it('prints the usage for help, and exits 2 without a subcommand', async () => {
    expect(await run(['help'])).toMatchObject({ code: 0, out: expect.stringContaining('--max-steps') });
    expect(await run(['run', '--help'])).toMatchObject({ code: 0 });
    expect(await run([])).toMatchObject({ code: 2 });
  });

  it.each([
    [['walk'], 'unknown command "agent walk"'],
    [['run'], '--goal is required'],
    [['run', '--goal', 'g', '--max-steps', '0'], '--max-steps must be a positive integer (got "0")'],
    [['run', '--goal', 'g', '--max-refusals', 'x'], '--max-refusals must be a positive integer'],
    [['run', '--goal', 'g', '--on-escalation', 'maybe'], '--on-escalation must be wait or return'],
    [['run', '--goal', 'g', '--price-in', '3'], 'give both --price-in and --price-out'],
    [['run', '--goal', 'g', '--price-in=-1', '--price-out', '1'], '--price-in must be a non-negative number'],
    [['run', '--goal', 'g', '--model', 'gpt-4o'], 'expected openai:<model>'],
    [['run', '--goal', 'g', '--model', 'openai:gpt-4o-mini'], 'openai: set OPENAI_API_KEY'],
    [['run', '--goal', 'g', '--frobnicate'], "Unknown option '--frobnicate'"],
  ])('%j → %s', async (argv, message) => {
    const r = await run(argv);
    expect(r.code).toBe(2);
    expect(r.err).toContain(message);
  });

  it('needs the API key and the agent it is bound to', async () => {
    expect((await run(['run', '--goal', 'g'], {})).err).toContain('set WARDEN_API_KEY');
    expect((await run(['run', '--goal', 'g', '--model', 'ollama:x'], { WARDEN_API_KEY: 'k' })).err).toContain(
      '--agent <id> or WARDEN_AGENT_ID',
    );
  });
});
