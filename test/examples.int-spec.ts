import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { newId } from '@warden/kernel';
import { createTestEnv, waitFor, type TestEnv } from '@warden/testing';
import { AdminApi } from './support/admin-api';
import { System } from './support/system';

const run = promisify(execFile);
const ROOT = resolve(__dirname, '..');
const ADMIN = 'examples-admin-token-0123456789abcdef';

/**
 * Every example under examples/ runs, as its README says, against the real services with the scripted
 * model (no key, no network), so none can rot unnoticed. They load the built packages (`npm test`
 * builds first).
 */
describe('examples/: each one runs against the services and does what its README says', () => {
  let t: TestEnv;
  let sys: System;
  let workspace: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    for (const lib of ['agent', 'client'])
      if (!existsSync(join(ROOT, `libs/${lib}/dist/index.js`)))
        throw new Error(`libs/${lib} is not built: run npm run build first`);
    t = await createTestEnv();
    workspace = mkdtempSync(join(tmpdir(), 'warden-examples-'));
    sys = new System(t, { WARDEN_WORKSPACE: workspace, WARDEN_BOOTSTRAP_ADMIN_TOKEN: ADMIN });
    await sys.startAll();
    const agentId = `agent-examples-${newId().slice(0, 8)}`;
    const key = await new AdminApi(sys, ADMIN).createKey({
      name: 'examples',
      owner: 'examples-test',
      agent: { id: agentId, role: 'dev' },
    });
    const { WARDEN_EXAMPLE_MODEL: _real, ...rest } = process.env;
    env = {
      ...rest,
      WARDEN_URL: sys.url('ingest'),
      WARDEN_ORCHESTRATOR_URL: sys.url('orchestrator'),
      WARDEN_API_KEY: key,
      WARDEN_AGENT_ID: agentId,
    };
  }, 120_000);

  afterAll(async () => {
    await sys?.stopAll();
    await t?.cleanup();
  });

  const node = (script: string) => run(process.execPath, [join(ROOT, script)], { cwd: ROOT, env, timeout: 60_000 });

  it('reference-agent/agent.js: writes the note through Warden, the denied copy is reported, it answers', async () => {
    const { stdout } = await node('examples/reference-agent/agent.js');
    expect(stdout).toMatch(/fs\.write_file .*notes\/agent-hello\.md.* → succeeded/);
    expect(stdout).toMatch(/fs\.write_file .*outside\.md.* → denied \(.*workspace-escape/);
    expect(stdout).toContain('stopped: answered');
    expect(readFileSync(join(workspace, 'notes/agent-hello.md'), 'utf8')).toBe('Hello from the agent.\n');
  });

  it('reference-agent with the CLI: warden-agent run against fake-model.js', async () => {
    const port = String(18_000 + Math.floor(Math.random() * 2000));
    const server = execFile(process.execPath, [join(ROOT, 'examples/reference-agent/fake-model.js')], {
      cwd: ROOT,
      env: { ...env, PORT: port },
    });
    try {
      await waitFor(async () => {
        const r = await fetch(`http://127.0.0.1:${port}/v1/models`).catch(() => undefined);
        return r !== undefined;
      }, 'the scripted model to listen');
      const { stdout } = await run(
        process.execPath,
        [
          join(ROOT, 'libs/agent/bin/warden-agent.js'),
          'run',
          '--goal',
          'write notes/cli-hello.md',
          '--role',
          'dev',
          '--model',
          `openai-compatible:http://127.0.0.1:${port}/v1#scripted`,
          '--max-steps',
          '4',
        ],
        { cwd: ROOT, env, timeout: 60_000 },
      );
      expect(stdout).toContain('done: Wrote notes/cli-hello.md.');
      expect(readFileSync(join(workspace, 'notes/cli-hello.md'), 'utf8')).toBe('Hello from warden agent run.\n');
    } finally {
      server.kill();
    }
  });

  it('vercel-ai/index.js: generateText with gated local and worker tools; the reset is denied', async () => {
    const { stdout } = await node('examples/vercel-ai/index.js');
    expect(stdout).toMatch(/fs__write_file → .*notes\/ai-sdk\.md/);
    expect(stdout).toMatch(/git__commit → .*"committed":"notes: ai-sdk"/);
    expect(stdout).toMatch(/git__reset → .*"status":"denied".*git-reset/);
    expect(readFileSync(join(workspace, 'notes/ai-sdk.md'), 'utf8')).toBe('Written through Warden by the AI SDK.\n');
  });

  it('langchain/index.js: LangChain tools gated, the denial comes back as the ToolMessage', async () => {
    const { stdout } = await node('examples/langchain/index.js');
    expect(stdout).toContain('git.commit → committed "wip"');
    expect(stdout).toMatch(/git\.reset → .*"status":"denied".*git-reset/);
    expect(stdout).toContain('answer: Committed; the hard reset was denied by policy.');
  });
});
