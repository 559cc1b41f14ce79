import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { ResponseMessage } from '@modelcontextprotocol/sdk/shared/responseMessage.js';
import { CallToolResultSchema, type CallToolResult, type Task } from '@modelcontextprotocol/sdk/types.js';
import { makeEnvelope } from '@warden/bus';
import { newId } from '@warden/kernel';
import { createTestEnv, forgeAs, readAll, testPublisher, waitFor, type TestEnv } from '@warden/testing';
import { AdminApi } from './support/admin-api';
import { System, type ServiceName } from './support/system';

const ADMIN = 'mcp-tasks-admin-token-0123456789ab';
const DASHBOARD = 'http://dashboard.example/';
const TERMINAL = ['succeeded', 'failed', 'denied', 'rejected', 'expired', 'cancelled'];

type RunMeta = { run_id: string | null; status: string };
const meta = (r: CallToolResult) => r._meta?.['warden/run'] as RunMeta;
const text = (r: CallToolResult) => r.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');

describe('MCP tasks: a task-augmented tools/call follows its durable run', () => {
  let t: TestEnv;
  let sys: System;
  let api: AdminApi;
  /** A second ingest replica on the same database and bus. */
  let replica: System;
  let workspace: string;
  let devKey: string;
  let otherDevKey: string;
  const approvers: string[] = [];
  const clients: Client[] = [];
  const admin = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };

  function ingestEnv(env: Record<string, string> = {}): void {
    for (const s of [sys, replica])
      (s.serviceEnv as Partial<Record<ServiceName, Record<string, string>>>).ingest = {
        ORCHESTRATOR_URL: sys.url('orchestrator'),
        ...env,
      };
  }

  async function connect(key: string, opts: { sessionId?: string; via?: System } = {}) {
    const transport = new StreamableHTTPClientTransport(new URL(`${(opts.via ?? sys).url('ingest')}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${key}` } },
      ...(opts.sessionId ? { sessionId: opts.sessionId } : {}),
    });
    // a client that speaks 2025-11-25 (the SDK's latest) and so may augment its calls with tasks
    const client = new Client({ name: 'warden-mcp-tasks-test', version: '1.0.0' });
    await client.connect(transport);
    clients.push(client);
    return { client, transport };
  }

  async function getRun(runId: string) {
    const r = await fetch(`${sys.url('orchestrator')}/v1/runs/${runId}`, { headers: admin });
    return r.status === 200 ? ((await r.json()) as { status: string; events: { type: string }[] }) : undefined;
  }

  /** tools/call as a task: the CreateTaskResult (the task and the run it follows). */
  async function createTask(client: Client, name: string, args: Record<string, unknown>) {
    const r = await client.request(
      { method: 'tools/call', params: { name, arguments: args, task: { ttl: 600_000 } } },
      // the SDK's CreateTaskResultSchema, plus our _meta
      (await import('@modelcontextprotocol/sdk/types.js')).CreateTaskResultSchema,
    );
    return { task: r.task, runId: (r._meta?.['warden/run'] as { run_id: string | null }).run_id };
  }

  async function statusOf(client: Client, taskId: string, want: Task['status']): Promise<Task> {
    return waitFor(async () => {
      const task = await client.experimental.tasks.getTask(taskId);
      return task.status === want ? task : undefined;
    }, `task ${taskId} to be ${want}`);
  }

  beforeAll(async () => {
    t = await createTestEnv();
    workspace = mkdtempSync(join(tmpdir(), 'warden-mcp-tasks-'));
    writeFileSync(join(workspace, 'hello.txt'), 'hello, tasks\n');
    const env = {
      WARDEN_WORKSPACE: workspace,
      WARDEN_BOOTSTRAP_ADMIN_TOKEN: ADMIN,
      WARDEN_DASHBOARD_URL: DASHBOARD,
      MCP_APPROVAL_WAIT_SECONDS: '60',
    };
    sys = new System(t, env);
    replica = new System(t, env);
    for (const s of ['policy', 'orchestrator', 'approvals', 'workers'] as const) await sys.start(s);
    ingestEnv();
    await sys.start('ingest');
    await replica.start('ingest');
    api = new AdminApi(sys, ADMIN);
    const createKey = (agent: { id: string; role: string }) =>
      api.createKey({ name: `mcp-tasks-${newId()}`, owner: 'mcp-test', agent, knownBy: 'mcp', on: [sys, replica] });
    devKey = await createKey({ id: 'agent-tasks', role: 'dev' });
    otherDevKey = await createKey({ id: 'agent-tasks-other', role: 'dev' });
    approvers.push(await api.createApprover('alice-tasks'), await api.createApprover('bob-tasks'));
  });
  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    await replica?.stopAll();
    await sys?.stopAll();
    await t?.cleanup();
  });

  it('declares tasks for tools/call and lists every proposing tool with taskSupport optional', async () => {
    const { client } = await connect(devKey);
    expect(client.getServerCapabilities()?.tasks).toMatchObject({ requests: { tools: { call: {} } }, cancel: {} });
    const tools = (await client.listTools()).tools;
    expect(tools.find((x) => x.name === 'fs.read_file')?.execution).toEqual({ taskSupport: 'optional' });
    expect(tools.find((x) => x.name === 'warden.await_run')?.execution).toBeUndefined();
  });

  it('runs an allowed call as a task: working → completed, the result from tasks/result (SDK callToolStream)', async () => {
    const { client } = await connect(devKey);
    const seen: ResponseMessage<CallToolResult>[] = [];
    for await (const m of client.experimental.tasks.callToolStream(
      { name: 'fs.read_file', arguments: { path: 'hello.txt' } },
      CallToolResultSchema,
      { task: { ttl: 600_000 }, timeout: 60_000 },
    ))
      seen.push(m as ResponseMessage<CallToolResult>);
    expect(seen[0]!.type).toBe('taskCreated');
    const last = seen[seen.length - 1]!;
    expect(last.type).toBe('result');
    const r = (last as { result: CallToolResult }).result;
    expect(r.isError).toBeFalsy();
    expect(r.structuredContent).toMatchObject({ content: 'hello, tasks\n' });
    expect(meta(r).status).toBe('succeeded');
    const statuses = seen.flatMap((m) => (m.type === 'taskStatus' ? [m.task.status] : []));
    expect(statuses[statuses.length - 1]).toBe('completed');
    expect(statuses.every((s) => s === 'working' || s === 'completed')).toBe(true);
  });

  it('an escalated call is input_required (naming the approval) until approved over REST, then completed with the result', async () => {
    const { client } = await connect(devKey);
    const { task, runId } = await createTask(client, 'fs.write_file', {
      path: 'prod/task-approved.md',
      content: 'approved as a task',
    });
    expect(task.status).toMatch(/^(working|input_required)$/);
    const approvalId = await api.pendingApprovalOf(runId!);
    const waiting = await statusOf(client, task.taskId, 'input_required');
    expect(waiting.statusMessage).toContain(approvalId);
    expect(waiting.statusMessage).toContain(DASHBOARD);
    expect(existsSync(join(workspace, 'prod/task-approved.md'))).toBe(false);
    // tasks/result blocks until the task is terminal
    const result = client.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema, { timeout: 60_000 });
    expect(await api.vote(approvalId, approvers[0]!, 'approve', 'ok')).toBe(200);
    expect(await api.vote(approvalId, approvers[1]!, 'approve', 'ok too')).toBe(200);
    const r = await result;
    expect(r.isError).toBeFalsy();
    expect(meta(r)).toMatchObject({ run_id: runId, status: 'succeeded' });
    expect(readFileSync(join(workspace, 'prod/task-approved.md'), 'utf8')).toBe('approved as a task');
    expect((await client.experimental.tasks.getTask(task.taskId)).status).toBe('completed');
  });

  it('a rejected call fails with an isError result and the comment; a forged success changes nothing', async () => {
    const { client } = await connect(devKey);
    const { task, runId } = await createTask(client, 'fs.write_file', { path: 'prod/task-rejected.md', content: 'no' });
    const approvalId = await api.pendingApprovalOf(runId!);
    await statusOf(client, task.taskId, 'input_required');
    await testPublisher(t).publishEvent(
      forgeAs(
        makeEnvelope({
          type: 'run_succeeded',
          runId: runId!,
          producer: 'workers',
          traceId: '0af7651916cd43dd8448eb211c80319c',
          data: { result: { output: { forged: true }, output_hash: `sha256:${'0'.repeat(64)}` } },
        }),
      ),
    );
    // the forged event is on the stream; a replay of the run still says it waits
    await new Promise((r) => setTimeout(r, 300));
    expect((await client.experimental.tasks.getTask(task.taskId)).status).toBe('input_required');
    expect(await api.vote(approvalId, approvers[0]!, 'reject', 'not in prod, please')).toBe(200);
    const failed = await statusOf(client, task.taskId, 'failed');
    expect(failed.statusMessage).toMatch(/rejected/);
    const r = await client.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema);
    expect(r.isError).toBe(true);
    expect(text(r)).toContain('not in prod, please');
    expect(meta(r)).toMatchObject({ run_id: runId, status: 'rejected' });
    expect(existsSync(join(workspace, 'prod/task-rejected.md'))).toBe(false);
  });

  it('invalid arguments make a failed task whose result names each field path; nothing is proposed', async () => {
    const { client } = await connect(devKey);
    const { task, runId } = await createTask(client, 'fs.write_file', { path: 5 });
    expect(runId).toBeNull();
    expect(task.status).toBe('failed');
    const r = await client.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema);
    expect(r.isError).toBe(true);
    expect(text(r)).toContain('arguments.content');
    expect(meta(r)).toMatchObject({ run_id: null, status: 'not_submitted' });
  });

  it('tasks/cancel cancels a waiting run that has not started; the task is cancelled and nothing ran', async () => {
    const { client } = await connect(devKey);
    const { task, runId } = await createTask(client, 'fs.write_file', { path: 'prod/task-cancelled.md', content: 'x' });
    await api.pendingApprovalOf(runId!);
    await statusOf(client, task.taskId, 'input_required');
    const cancelled = await client.experimental.tasks.cancelTask(task.taskId);
    expect(cancelled.status).toBe('cancelled');
    const run = await waitFor(async () => {
      const r = await getRun(runId!);
      return r && TERMINAL.includes(r.status) ? r : undefined;
    }, 'the run to be cancelled');
    expect(run.status).toBe('cancelled');
    expect(run.events.map((e) => e.type)).not.toContain('run_started');
    expect((await client.experimental.tasks.getTask(task.taskId)).status).toBe('cancelled');
    const r = await client.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema);
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/cancelled/);
    // a terminal task cannot be cancelled again
    await expect(client.experimental.tasks.cancelTask(task.taskId)).rejects.toThrow(/terminal/);
    expect(existsSync(join(workspace, 'prod/task-cancelled.md'))).toBe(false);
  });

  it('a retried request id gets the same task and the same run, never a second one', async () => {
    const { transport } = await connect(devKey);
    const raw = async () => {
      const r = await fetch(`${sys.url('ingest')}/mcp`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${devKey}`,
          'mcp-session-id': transport.sessionId!,
          'mcp-protocol-version': '2025-11-25',
          accept: 'application/json, text/event-stream',
          'content-type': 'application/json',
        },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 77,
          method: 'tools/call',
          params: { name: 'fs.write_file', arguments: { path: 'mcp/task-once.md', content: 'once' }, task: {} },
        }),
      });
      expect(r.status).toBe(200);
      const line = (await r.text()).split('\n').find((l) => l.startsWith('data: '))!;
      return (JSON.parse(line.slice(6)) as { result: { task: Task; _meta: { 'warden/run': { run_id: string } } } })
        .result;
    };
    const first = await raw();
    const again = await raw();
    expect(again.task.taskId).toBe(first.task.taskId);
    expect(again._meta['warden/run'].run_id).toBe(first._meta['warden/run'].run_id);
    const { client } = await connect(devKey, { sessionId: transport.sessionId! });
    await statusOf(client, first.task.taskId, 'completed');
    expect(readFileSync(join(workspace, 'mcp/task-once.md'), 'utf8')).toBe('once');
    const received = await readAll(
      t.bus,
      t.subjects.streams.events,
      t.subjects.event(first._meta['warden/run'].run_id, 'task_received'),
    );
    expect(received).toHaveLength(1);
  });

  it("another agent's session cannot see, read or cancel a task", async () => {
    const { client } = await connect(devKey);
    const { task } = await createTask(client, 'fs.read_file', { path: 'hello.txt' });
    const { client: other } = await connect(otherDevKey);
    await expect(other.experimental.tasks.getTask(task.taskId)).rejects.toThrow(/not found/i);
    await expect(other.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema)).rejects.toThrow(
      /not found/i,
    );
    await expect(other.experimental.tasks.cancelTask(task.taskId)).rejects.toThrow(/not found/i);
    expect((await other.experimental.tasks.listTasks()).tasks.map((x) => x.taskId)).not.toContain(task.taskId);
    expect((await client.experimental.tasks.listTasks()).tasks.map((x) => x.taskId)).toContain(task.taskId);
  });

  it('loses nothing across replicas and a restart: another replica reads the task; after a restart it is approved and completes', async () => {
    const { client, transport } = await connect(devKey);
    const sessionId = transport.sessionId!;
    const { task, runId } = await createTask(client, 'fs.write_file', {
      path: 'prod/task-restart.md',
      content: 'survived as a task',
    });
    const approvalId = await api.pendingApprovalOf(runId!);
    await statusOf(client, task.taskId, 'input_required');
    // the other replica answers for the same session and task
    const { client: viaReplica } = await connect(devKey, { sessionId, via: replica });
    expect((await viaReplica.experimental.tasks.getTask(task.taskId)).status).toBe('input_required');

    // both gateways stop; a new one starts (new port): the task lives on in Postgres and on the bus
    await replica.stop('ingest');
    await sys.stop('ingest');
    await sys.start('ingest');
    const { client: after } = await connect(devKey, { sessionId });
    const again = await after.experimental.tasks.getTask(task.taskId);
    expect(again.status).toBe('input_required');
    expect(again.statusMessage).toContain(approvalId);

    expect(await api.vote(approvalId, approvers[0]!, 'approve', 'fine')).toBe(200);
    expect(await api.vote(approvalId, approvers[1]!, 'approve', 'fine')).toBe(200);
    await statusOf(after, task.taskId, 'completed');
    const r = await after.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema);
    expect(r.isError).toBeFalsy();
    expect(meta(r)).toMatchObject({ run_id: runId, status: 'succeeded' });
    expect(readFileSync(join(workspace, 'prod/task-restart.md'), 'utf8')).toBe('survived as a task');
  });
});
