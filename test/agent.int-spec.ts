import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import {
  createChatModel,
  runAgent,
  runAgentCommand,
  startFakeModelServer,
  type FakeModelServer,
  type ScriptStep,
} from '@warden/agent';
import { newId } from '@warden/kernel';
import { createTestEnv, type TestEnv } from '@warden/testing';
import { httpClient } from './support/client';
import { AdminApi } from './support/admin-api';
import { System } from './support/system';

const ADMIN = 'agent-admin-token-0123456789abcdef';
/** Tokens a session may use before policy denies (the test bundle's budget; the shipped one escalates at 800k). */
const TOKEN_BUDGET = 20_000;

/** The shipped bundle with a small session token budget that denies at 100 %. */
function testBundle(dir: string): string {
  const bundle = parse(readFileSync(resolve(__dirname, '../deploy/policies/default.yaml'), 'utf8')) as Record<
    string,
    unknown
  >;
  delete bundle.tests;
  bundle.version = 'agent-test.1';
  // the same call a 4th time is refused as a loop (the shipped bundle: the 51st); escalation far later
  bundle.loops = { max_failures: 3, tier: 2, max_repeats: 3, escalate_repeats: 10 };
  bundle.budgets = {
    session: { max_tokens: TOKEN_BUDGET, window_seconds: 86_400, escalate_at: null, on_exceed: 'deny', tier: 2 },
  };
  const file = join(dir, 'agent-test-policy.yaml');
  writeFileSync(file, stringify(bundle));
  return file;
}

/** What the model was shown as the result of the call with this id (OpenAI chat completions request). */
function toolResultSeen(fake: FakeModelServer, callId: string): Record<string, unknown> | undefined {
  for (const r of fake.requests) {
    const msgs = r.body.messages as { role: string; tool_call_id?: string; content?: string }[];
    const m = msgs.find((x) => x.role === 'tool' && x.tool_call_id === callId);
    if (m) return JSON.parse(m.content!) as Record<string, unknown>;
  }
  return undefined;
}

describe('the reference agent: a scripted model behind Warden on the real services', () => {
  let t: TestEnv;
  let sys: System;
  let api: AdminApi;
  let workspace: string;
  let devKey: string;
  const agent = { id: 'agent-ref', role: 'dev' };
  const approvers: string[] = [];
  const fakes: FakeModelServer[] = [];
  const admin = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };

  const client = () => httpClient(sys, { apiKey: devKey, agent });

  async function fakeModel(script: ScriptStep[], repeatLast = false): Promise<FakeModelServer> {
    const fake = await startFakeModelServer({ script, repeatLast });
    fakes.push(fake);
    return fake;
  }

  const modelOf = (fake: FakeModelServer) =>
    createChatModel(`openai-compatible:${fake.openaiBaseURL}#fake-model`, { env: {} });

  beforeAll(async () => {
    t = await createTestEnv();
    workspace = mkdtempSync(join(tmpdir(), 'warden-agent-'));
    sys = new System(t, {
      WARDEN_WORKSPACE: workspace,
      WARDEN_BOOTSTRAP_ADMIN_TOKEN: ADMIN,
      WARDEN_POLICY_FILE: testBundle(mkdtempSync(join(tmpdir(), 'warden-agent-policy-'))),
    });
    api = new AdminApi(sys, ADMIN);
    await sys.startAll();
    devKey = await api.createKey({ name: `agent-${newId()}`, owner: 'agent-test', agent });
    approvers.push(await api.createApprover('alice-agent'), await api.createApprover('bob-agent'));
  }, 120_000);

  afterAll(async () => {
    for (const f of fakes) await f.close();
    await sys?.stopAll();
    await t?.cleanup();
  });

  it('writes a file through Warden (the file is really in the workspace), then stops on the final answer', async () => {
    const fake = await fakeModel([
      {
        text: 'I will write the notes.',
        toolCalls: [
          { id: 'w1', name: 'fs.write_file', args: { path: 'notes/hello.md', content: '# hello from the agent\n' } },
        ],
        usage: { inputTokens: 800, outputTokens: 40 },
      },
      { text: 'Wrote notes/hello.md.', usage: { inputTokens: 900, outputTokens: 10 } },
    ]);
    const result = await runAgent({
      goal: 'write notes/hello.md',
      role: 'dev',
      model: modelOf(fake),
      client: client(),
    });

    expect(result).toMatchObject({ stopReason: 'answered', answer: 'Wrote notes/hello.md.', steps: 2 });
    expect(readFileSync(join(workspace, 'notes/hello.md'), 'utf8')).toBe('# hello from the agent\n');
    expect(toolResultSeen(fake, 'w1')).toMatchObject({ status: 'succeeded', executed: true });
    // the run is the key's agent's, in the run's session, and carries the model's real token usage
    const runId = result.calls[0]!.outcome.kind === 'executed' ? result.calls[0]!.outcome.runId : '';
    const run = (await (await fetch(`${sys.url('orchestrator')}/v1/runs/${runId}`, { headers: admin })).json()) as {
      agent: { id: string };
      session_id: string;
      events: { type: string; data: { submission?: { usage?: unknown } } }[];
    };
    expect(run.agent.id).toBe('agent-ref');
    expect(run.session_id).toBe(result.session);
    const received = run.events.find((e) => e.type === 'task_received');
    expect(received?.data.submission?.usage).toEqual({ tokens: 840 });
    // the model was offered the dev role's tools with their JSON Schemas
    const offered = (
      fake.requests[0]!.body.tools as { function: { name: string; parameters: { required?: string[] } } }[]
    ).map((x) => x.function);
    expect(offered.find((f) => f.name === 'fs__write_file')?.parameters.required).toEqual(['path', 'content']);
    expect(offered.map((f) => f.name)).not.toContain('http__get');
  });

  it('gives a denied call back to the model as a tool result with the reason and rule id; the model sees it', async () => {
    const fake = await fakeModel([
      { toolCalls: [{ id: 'd1', name: 'fs.write_file', args: { path: '../outside.txt', content: 'escape' } }] },
      (req) => {
        // the model reasons about the refusal it was shown
        const shown = JSON.stringify(req.body.messages);
        return {
          text: shown.includes('workspace-escape') ? 'That path is outside the workspace; I stop.' : 'no refusal seen',
        };
      },
    ]);
    const result = await runAgent({ goal: 'write outside', role: 'dev', model: modelOf(fake), client: client() });
    expect(result).toMatchObject({ stopReason: 'answered', answer: 'That path is outside the workspace; I stop.' });
    const seen = toolResultSeen(fake, 'd1');
    expect(seen).toMatchObject({
      status: 'denied',
      executed: false,
      rule_ids: expect.arrayContaining(['workspace-escape']),
    });
    expect((seen!.reasons as string[]).length).toBeGreaterThan(0);
    expect(existsSync(resolve(workspace, '../outside.txt'))).toBe(false);
  });

  it('stops a runaway model that repeats one call: the loop rule refuses it, the refusals repeat, the agent stops', async () => {
    const fake = await fakeModel(
      [{ toolCalls: [{ id: 'loop', name: 'fs.write_file', args: { path: 'loop.md', content: 'again' } }] }],
      true,
    );
    const result = await runAgent({ goal: 'loop', role: 'dev', model: modelOf(fake), client: client(), maxSteps: 30 });
    expect(result).toMatchObject({ stopReason: 'refusals', steps: 6 });
    expect(result.calls.map((c) => c.outcome.kind)).toEqual([
      'executed',
      'executed',
      'executed',
      'refused',
      'refused',
      'refused',
    ]);
    for (const r of result.calls.slice(3)) {
      expect(r.outcome).toMatchObject({ status: 'denied', ruleIds: expect.arrayContaining(['loop-repeated-call']) });
      expect(JSON.stringify(r.outcome)).toMatch(/looping/);
    }
    // the model was told it is looping
    expect(JSON.stringify(fake.requests.at(-1)!.body.messages)).toContain('loop-repeated-call');
  });

  it('stops a runaway model whose calls differ: the token budget denies on the model’s real usage', async () => {
    let n = 0;
    const fake = await fakeModel(
      [
        () => ({
          toolCalls: [{ id: `b${n}`, name: 'fs.write_file', args: { path: 'budget.md', content: `take ${n++}` } }],
          usage: { inputTokens: 4_500, outputTokens: 500 },
        }),
      ],
      true,
    );
    const result = await runAgent({ goal: 'spend', role: 'dev', model: modelOf(fake), client: client(), maxSteps: 30 });
    expect(result.stopReason).toBe('refusals');
    // 5 000 real tokens a response: 4 calls fit in the 20 000 budget, the 5th and later are denied
    expect(result.calls.map((c) => c.outcome.kind)).toEqual([
      'executed',
      'executed',
      'executed',
      'executed',
      'refused',
      'refused',
      'refused',
    ]);
    for (const r of result.calls.slice(4)) {
      expect(r.outcome).toMatchObject({ status: 'denied', ruleIds: expect.arrayContaining(['session-budget']) });
      expect(JSON.stringify(r.outcome)).toMatch(/max_tokens budget/);
    }
    expect(JSON.stringify(fake.requests.at(-1)!.body.messages)).toContain('session-budget');
    expect(result.usage.totalTokens).toBe(7 * 5_000);
  });

  it('the step limit stops a model that never answers even when every call is allowed', async () => {
    let n = 0;
    const fake = await fakeModel(
      [
        () => ({
          toolCalls: [{ id: `s${n}`, name: 'fs.write_file', args: { path: `steps/${n++}.md`, content: 'x' } }],
        }),
      ],
      true,
    );
    const result = await runAgent({ goal: 'busy', role: 'dev', model: modelOf(fake), client: client(), maxSteps: 3 });
    expect(result).toMatchObject({ stopReason: 'max_steps', steps: 3 });
    expect(result.calls.map((c) => c.outcome.kind)).toEqual(['executed', 'executed', 'executed']);
    expect(fake.requests).toHaveLength(3);
  });

  it('an escalated call waits for the approvers (approved over REST), then runs and the model sees the result', async () => {
    const session = `agent-esc-${newId()}`;
    const fake = await fakeModel([
      { toolCalls: [{ id: 'p1', name: 'fs.write_file', args: { path: 'prod/release.md', content: 'v2\n' } }] },
      { text: 'Released.' },
    ]);
    const running = runAgent({ goal: 'release', role: 'dev', model: modelOf(fake), client: client(), session });
    const approval = await api.pendingApprovalInSession(session);
    expect(existsSync(join(workspace, 'prod/release.md'))).toBe(false);
    await api.approveWithEach(approval.id, approvers, 'looks right');
    const result = await running;
    expect(result).toMatchObject({ stopReason: 'answered', answer: 'Released.' });
    expect(readFileSync(join(workspace, 'prod/release.md'), 'utf8')).toBe('v2\n');
    expect(toolResultSeen(fake, 'p1')).toMatchObject({ status: 'succeeded', executed: true, run_id: approval.run_id });
  });

  it('a rejected escalation comes back to the model as "rejected"; nothing is written', async () => {
    const session = `agent-rej-${newId()}`;
    const fake = await fakeModel([
      { toolCalls: [{ id: 'x1', name: 'fs.write_file', args: { path: 'prod/nope.md', content: 'no\n' } }] },
      (req) => ({
        text: JSON.stringify(req.body.messages).includes('rejected') ? 'The approvers said no.' : 'unexpected',
      }),
    ]);
    const running = runAgent({ goal: 'try prod', role: 'dev', model: modelOf(fake), client: client(), session });
    const approval = await api.pendingApprovalInSession(session);
    const r = await fetch(`${sys.url('approvals')}/v1/approvals/${approval.id}/reject`, {
      method: 'POST',
      headers: { authorization: `Bearer ${approvers[0]}`, 'content-type': 'application/json' },
      body: JSON.stringify({ comment: 'not today' }),
    });
    expect(r.status).toBe(200);
    const result = await running;
    expect(result).toMatchObject({ stopReason: 'answered', answer: 'The approvers said no.' });
    expect(toolResultSeen(fake, 'x1')).toMatchObject({ status: 'rejected', executed: false, approval_id: approval.id });
    expect(existsSync(join(workspace, 'prod/nope.md'))).toBe(false);
  });

  it('runs with Anthropic as the model (the Anthropic adapter against a scripted messages endpoint)', async () => {
    const fake = await fakeModel([
      {
        toolCalls: [
          { id: 'toolu_1', name: 'fs.write_file', args: { path: 'anthropic/a.md', content: 'from claude\n' } },
        ],
      },
      { text: 'Done.' },
    ]);
    const model = createChatModel('anthropic:claude-sonnet-4-5', {
      env: { ANTHROPIC_API_KEY: 'sk-ant-test', ANTHROPIC_BASE_URL: fake.anthropicBaseURL },
    });
    const result = await runAgent({ goal: 'write anthropic/a.md', role: 'dev', model, client: client() });
    expect(result).toMatchObject({ stopReason: 'answered', answer: 'Done.' });
    expect(readFileSync(join(workspace, 'anthropic/a.md'), 'utf8')).toBe('from claude\n');
    expect(fake.requestsOf('anthropic')).toHaveLength(2);
    // Anthropic's shape: the tool result is a user message with a tool_result block for toolu_1
    expect(JSON.stringify(fake.requests[1]!.body.messages)).toMatch(/"type":"tool_result","tool_use_id":"toolu_1"/);
  });

  it('with onEscalation "return", stops at once and names the pending approval', async () => {
    const fake = await fakeModel([
      { toolCalls: [{ id: 'r1', name: 'fs.write_file', args: { path: 'prod/later.md', content: 'later\n' } }] },
    ]);
    const result = await runAgent({
      goal: 'later',
      role: 'dev',
      model: modelOf(fake),
      client: client(),
      onEscalation: 'return',
    });
    expect(result.stopReason).toBe('pending_approval');
    const approval = await api.pendingApprovalInSession(result.session);
    expect(result.pending).toEqual({ runId: approval.run_id, approvalId: approval.id });
    expect(existsSync(join(workspace, 'prod/later.md'))).toBe(false);
  });

  it('warden agent run: the command drives the same loop with --model and --max-steps, and says why it stopped', async () => {
    const fake = await fakeModel([
      { toolCalls: [{ id: 'c1', name: 'fs.write_file', args: { path: 'cli/out.md', content: 'from the cli\n' } }] },
      { text: 'All done.' },
    ]);
    const lines: string[] = [];
    const env = {
      WARDEN_URL: sys.url('ingest'),
      WARDEN_ORCHESTRATOR_URL: sys.url('orchestrator'),
      WARDEN_API_KEY: devKey,
    };
    const code = await runAgentCommand(
      [
        'run',
        '--goal',
        'write cli/out.md',
        '--role',
        'dev',
        '--agent',
        'agent-ref',
        '--model',
        `openai-compatible:${fake.openaiBaseURL}#fake`,
        '--max-steps',
        '5',
      ],
      { env, stdout: (l) => lines.push(l), stderr: (l) => lines.push(l) },
    );
    expect(code).toBe(0);
    expect(readFileSync(join(workspace, 'cli/out.md'), 'utf8')).toBe('from the cli\n');
    expect(lines.join('\n')).toMatch(/fs\.write_file .* → succeeded/);
    expect(lines.join('\n')).toContain('done: All done.');

    // bad usage: exit 2 with a message naming the problem
    const errs: string[] = [];
    expect(
      await runAgentCommand(['run', '--role', 'dev'], { env, stdout: () => {}, stderr: (l) => errs.push(l) }),
    ).toBe(2);
    expect(errs[0]).toContain('--goal is required');
    expect(
      await runAgentCommand(['run', '--goal', 'g', '--agent', 'a', '--model', 'nope'], {
        env,
        stdout: () => {},
        stderr: (l) => errs.push(l),
      }),
    ).toBe(2);
    expect(errs.join('\n')).toContain('expected openai:<model>');
    // an agent the key is not bound to: Warden refuses the first proposal, the command fails with its code
    const fake2 = await fakeModel([{ toolCalls: [{ id: 'x', name: 'fs.list_dir', args: {} }] }]);
    const other = await runAgentCommand(
      ['run', '--goal', 'g', '--agent', 'someone-else', '--model', `openai-compatible:${fake2.openaiBaseURL}#fake`],
      { env, stdout: () => {}, stderr: (l) => errs.push(l) },
    );
    expect(other).toBe(1);
    expect(errs.join('\n')).toContain('KEY.AGENT_MISMATCH');
  });
});
