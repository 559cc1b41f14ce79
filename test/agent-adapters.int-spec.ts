import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { tool as langchainTool } from '@langchain/core/tools';
import { generateText, stepCountIs, tool } from 'ai';
import { z } from 'zod';
import {
  startFakeModelServer,
  wardenLangChainTools,
  wardenLangChainWorkerTools,
  wardenTools,
  wardenWorkerTools,
  WardenRefusalError,
  type FakeModelServer,
} from '@warden/agent';
import { newId } from '@warden/kernel';
import { createTestEnv, waitFor, type TestEnv } from '@warden/testing';
import { httpClient } from './support/client';
import { AdminApi, type PendingApproval } from './support/admin-api';
import { System } from './support/system';

const ADMIN = 'adapters-admin-token-0123456789abcdef';

/** The second argument the AI SDK passes to execute (what a direct call must give). */
const call = (id: string) => ({ toolCallId: id, messages: [] });

describe('framework adapters: Vercel AI SDK and LangChain.js tools gated by Warden on the real services', () => {
  let t: TestEnv;
  let sys: System;
  let api: AdminApi;
  let workspace: string;
  let devKey: string;
  const agent = { id: 'agent-adapters', role: 'dev' };
  const approvers: string[] = [];
  const fakes: FakeModelServer[] = [];
  const admin = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };

  /** Approves (with every approver, for the two-approver tier) the pending approval of a session's run. */
  async function approveInSession(session: string): Promise<PendingApproval> {
    const approval = await api.pendingApprovalInSession(session);
    await api.approveWithEach(approval.id, approvers, 'fine');
    return approval;
  }

  async function runStatus(runId: string): Promise<{ status: string; events: { type: string }[] }> {
    const r = await fetch(`${sys.url('orchestrator')}/v1/runs/${runId}`, { headers: admin });
    return (await r.json()) as { status: string; events: { type: string }[] };
  }

  const client = () => httpClient(sys, { apiKey: devKey, agent });

  beforeAll(async () => {
    t = await createTestEnv();
    workspace = mkdtempSync(join(tmpdir(), 'warden-adapters-'));
    sys = new System(t, { WARDEN_WORKSPACE: workspace, WARDEN_BOOTSTRAP_ADMIN_TOKEN: ADMIN });
    api = new AdminApi(sys, ADMIN);
    await sys.startAll();
    devKey = await api.createKey({ name: `adapters-${newId()}`, owner: 'adapters-test', agent });
    approvers.push(await api.createApprover('alice-adapters'), await api.createApprover('bob-adapters'));
  }, 120_000);

  afterAll(async () => {
    for (const f of fakes) await f.close();
    await sys?.stopAll();
    await t?.cleanup();
  });

  /**
   * Tools that run in this process on a local repository: what bring-your-own-executor gates. (A tool
   * with path arguments is not one: its decision carries resolved paths only a worker enforces, so the
   * orchestrator keeps it on the workers — `orchestrator.client-executor`.) In the default policy
   * git.commit is allowed, git.push escalates to one approver, git.reset is denied.
   */
  function localRepo() {
    const executions: string[] = [];
    const tools = {
      git__commit: tool({
        description: 'Commit the staged changes of the local repository',
        inputSchema: z.object({ message: z.string() }),
        execute: async ({ message }) => {
          executions.push(`commit ${message}`);
          return { committed: message };
        },
      }),
      git__push: tool({
        description: 'Push a branch of the local repository',
        inputSchema: z.object({ remote: z.string(), branch: z.string() }),
        execute: async ({ remote, branch }) => {
          executions.push(`push ${remote} ${branch}`);
          return { pushed: branch };
        },
      }),
      git__reset: tool({
        description: 'Reset the local repository',
        inputSchema: z.object({ mode: z.string() }),
        execute: async ({ mode }) => {
          executions.push(`reset ${mode}`);
          return { reset: mode };
        },
      }),
    };
    return { executions, tools };
  }

  describe('Vercel AI SDK (ai@6): wardenTools', () => {
    it('an allowed call runs the tool here, once, on Warden’s grant; the run records the execution', async () => {
      const repo = localRepo();
      const session = `ai-${newId()}`;
      const tools = wardenTools(client(), repo.tools, { session });
      const out = await tools.git__commit.execute!({ message: 'first' }, call('t1'));
      expect(out).toEqual({ committed: 'first' });
      expect(repo.executions).toEqual(['commit first']);
      // the run is Warden's record of it: one run in the session, succeeded, executed by the client
      const runs = (await (
        await fetch(`${sys.url('orchestrator')}/v1/runs?session_id=${session}&limit=10`, { headers: admin })
      ).json()) as { runs: { run_id: string }[] };
      expect(runs.runs).toHaveLength(1);
      const run = await runStatus(runs.runs[0]!.run_id);
      expect(run.status).toBe('succeeded');
      expect(run.events.map((e) => e.type)).toEqual(
        expect.arrayContaining(['execution_granted', 'execution_succeeded']),
      );
      // the same framework call id again is the same run (idempotent), never a second execution
      const again = await tools.git__commit.execute!({ message: 'first' }, call('t1'));
      expect(again).toEqual({ committed: 'first' });
      expect(repo.executions).toEqual(['commit first']);
    });

    it('a denied call never runs the tool and comes back as a result the model can read (reasons, rule ids)', async () => {
      const repo = localRepo();
      const tools = wardenTools(client(), repo.tools);
      const out = (await tools.git__reset.execute!({ mode: 'hard' }, call('t2'))) as Record<string, unknown>;
      expect(out).toMatchObject({
        status: 'denied',
        executed: false,
        rule_ids: ['git-reset'],
        reasons: ['git.reset discards work'],
      });
      expect(repo.executions).toEqual([]);
      // or, when configured, as an exception
      const strict = wardenTools(client(), repo.tools, { onRefusal: 'throw' });
      await expect(strict.git__reset.execute!({ mode: 'hard' }, call('t3'))).rejects.toBeInstanceOf(WardenRefusalError);
      expect(repo.executions).toEqual([]);
    });

    it('an escalated call waits for the approver, then runs here', async () => {
      const repo = localRepo();
      const session = `ai-esc-${newId()}`;
      const tools = wardenTools(client(), repo.tools, { session });
      const pending = tools.git__push.execute!({ remote: 'origin', branch: 'feature/a' }, call('t4'));
      await new Promise((r) => setTimeout(r, 300));
      expect(repo.executions).toEqual([]);
      await approveInSession(session);
      expect(await pending).toEqual({ pushed: 'feature/a' });
      expect(repo.executions).toEqual(['push origin feature/a']);
    });

    it('with onEscalation "return", the model gets the pending approval at once; the tool runs only once approved', async () => {
      const repo = localRepo();
      const session = `ai-ret-${newId()}`;
      const tools = wardenTools(client(), repo.tools, { session, onEscalation: 'return' });
      const out = (await tools.git__push.execute!({ remote: 'origin', branch: 'feature/b' }, call('t5'))) as Record<
        string,
        unknown
      >;
      expect(out).toMatchObject({ status: 'pending_approval', executed: false });
      expect(repo.executions).toEqual([]);
      const approval = await approveInSession(session);
      expect(out.approval_id).toBe(approval.id);
      await waitFor(async () => repo.executions.length === 1, 'the approved call to run');
      await waitFor(async () => (await runStatus(approval.run_id)).status === 'succeeded', 'the run to succeed');
    });

    it('wardenWorkerTools: the role’s worker tools, run by Warden’s workers, in one line', async () => {
      const session = `ai-w-${newId()}`;
      // the step's token usage goes on the proposal (what session budgets count)
      const tools = wardenWorkerTools(client(), {
        role: 'dev',
        session,
        usage: () => ({ tokens: 1234, cost_usd: 0.01 }),
      });
      expect(Object.keys(tools)).toEqual(expect.arrayContaining(['fs__write_file', 'fs__read_file', 'git__status']));
      expect(Object.keys(tools)).not.toContain('http__get');
      const out = await tools.fs__write_file!.execute!({ path: 'worker/w.md', content: 'by a worker' }, call('w1'));
      expect(out).toMatchObject({ path: 'worker/w.md' });
      expect(readFileSync(join(workspace, 'worker/w.md'), 'utf8')).toBe('by a worker');
      const runs = (await (
        await fetch(`${sys.url('orchestrator')}/v1/runs?session_id=${session}&limit=10`, { headers: admin })
      ).json()) as { runs: { run_id: string }[] };
      const run = (await (
        await fetch(`${sys.url('orchestrator')}/v1/runs/${runs.runs[0]!.run_id}`, { headers: admin })
      ).json()) as {
        events: { type: string; data: { submission?: { usage?: unknown } } }[];
      };
      expect(run.events.find((e) => e.type === 'task_received')?.data.submission?.usage).toEqual({
        tokens: 1234,
        cost_usd: 0.01,
      });
    });

    it('generateText with a scripted OpenAI-compatible model: allowed calls run, a denial is shown to the model', async () => {
      const fake = await startFakeModelServer({
        script: [
          {
            toolCalls: [
              { id: 'g1', name: 'git.commit', args: { message: 'wip' } },
              { id: 'g2', name: 'git.reset', args: { mode: 'hard' } },
            ],
          },
          { text: 'Committed; the reset is refused.' },
        ],
      });
      fakes.push(fake);
      const repo = localRepo();
      const model = createOpenAICompatible({ name: 'fake', baseURL: fake.openaiBaseURL }).chatModel('fake');
      const result = await generateText({
        model,
        tools: wardenTools(client(), repo.tools),
        prompt: 'commit, then reset',
        stopWhen: stepCountIs(3),
      });
      expect(result.text).toBe('Committed; the reset is refused.');
      expect(repo.executions).toEqual(['commit wip']);
      const second = JSON.stringify(fake.requests[1]!.body.messages);
      expect(second).toContain('g2');
      expect(second).toContain('git-reset');
      expect(second).toContain('\\"executed\\":false');
    });
  });

  describe('LangChain.js (@langchain/core 1.x): wardenLangChainTools', () => {
    function localLangchain() {
      const executions: string[] = [];
      const commit = langchainTool(
        async ({ message }: { message: string }) => {
          executions.push(`commit ${message}`);
          return `committed ${message}`;
        },
        { name: 'git__commit', description: 'Commit', schema: z.object({ message: z.string() }) },
      );
      const push = langchainTool(
        async ({ branch }: { remote: string; branch: string }) => {
          executions.push(`push ${branch}`);
          return `pushed ${branch}`;
        },
        { name: 'git__push', description: 'Push', schema: z.object({ remote: z.string(), branch: z.string() }) },
      );
      const reset = langchainTool(
        async ({ mode }: { mode: string }) => {
          executions.push(`reset ${mode}`);
          return `reset ${mode}`;
        },
        { name: 'git__reset', description: 'Reset', schema: z.object({ mode: z.string() }) },
      );
      return { executions, tools: [commit, push, reset] };
    }

    it('invoke runs an allowed tool here on Warden’s grant; a denial comes back as text the model reads', async () => {
      const local = localLangchain();
      const [commit, , reset] = wardenLangChainTools(client(), local.tools);
      expect(commit!.name).toBe('git__commit');
      expect(await commit!.invoke({ message: 'lc' })).toBe('committed lc');
      const refused = (await reset!.invoke({ mode: 'hard' })) as string;
      expect(JSON.parse(refused)).toMatchObject({ status: 'denied', executed: false, rule_ids: ['git-reset'] });
      expect(local.executions).toEqual(['commit lc']);
    });

    it('invoked with a model’s tool call, it answers a ToolMessage for that call id (denials included)', async () => {
      const local = localLangchain();
      const [, , reset] = wardenLangChainTools(client(), local.tools);
      const msg = (await reset!.invoke({
        id: 'lc-call-1',
        name: 'git__reset',
        args: { mode: 'hard' },
        type: 'tool_call',
      })) as {
        tool_call_id: string;
        content: string;
      };
      expect(msg.tool_call_id).toBe('lc-call-1');
      expect(JSON.parse(msg.content)).toMatchObject({ status: 'denied', executed: false });
      expect(local.executions).toEqual([]);
    });

    it('an escalated call waits for the approver, then runs', async () => {
      const local = localLangchain();
      const session = `lc-esc-${newId()}`;
      const [, push] = wardenLangChainTools(client(), local.tools, { session });
      const pending = push!.invoke({ remote: 'origin', branch: 'feature/lc' });
      await approveInSession(session);
      expect(await pending).toBe('pushed feature/lc');
      expect(local.executions).toEqual(['push feature/lc']);
    });

    it('wardenLangChainWorkerTools: the role’s worker tools run by Warden’s workers', async () => {
      const tools = wardenLangChainWorkerTools(client(), { role: 'dev', tools: ['fs.write_file', 'fs.read_file'] });
      expect(tools.map((x) => x.name).sort()).toEqual(['fs__read_file', 'fs__write_file']);
      const write = tools.find((x) => x.name === 'fs__write_file')!;
      await write.invoke({ path: 'lcw/w.md', content: 'by a worker for langchain' });
      expect(readFileSync(join(workspace, 'lcw/w.md'), 'utf8')).toBe('by a worker for langchain');
      expect(existsSync(join(workspace, '../lcw'))).toBe(false);
    });
  });

  it('a framework tool whose name says no Warden namespace is refused when wrapped, with the fix in the message', () => {
    const { tools } = localRepo();
    expect(() => wardenTools(client(), { commit: tools.git__commit })).toThrow(/namespace\.name.*crm__commit/);
    expect(
      Object.keys(wardenTools(client(), { commit: tools.git__commit }, { names: { commit: 'git.commit' } })),
    ).toEqual(['commit']);
  });
});
