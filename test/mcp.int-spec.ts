import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult, Progress } from '@modelcontextprotocol/sdk/types.js';
import { makeEnvelope } from '@warden/bus';
import { roleToolNames } from '@warden/contracts';
import { newId } from '@warden/kernel';
import { createTestEnv, forgeAs, readAll, testPublisher, waitFor, type TestEnv } from '@warden/testing';
import { AdminApi } from './support/admin-api';
import { System, type ServiceName } from './support/system';
import { LIVE_IDLE_MS, RunWatcher } from '../services/ingest/src/mcp/run-watcher';

const ADMIN = 'mcp-admin-token-0123456789abcdef';
const TERMINAL = ['succeeded', 'failed', 'denied', 'rejected', 'expired', 'cancelled'];
const DASHBOARD = 'http://dashboard.example/';

type RunMeta = {
  run_id: string | null;
  status: string;
  outcome: string | null;
  tier: number | null;
  policy_digest: string | null;
};
const meta = (r: CallToolResult) => r._meta?.['warden/run'] as RunMeta;
const text = (r: CallToolResult) => r.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');

describe('the MCP gateway: any MCP client proposes through Warden', () => {
  let t: TestEnv;
  let sys: System;
  let api: AdminApi;
  let workspace: string;
  let devKey: string;
  let researchKey: string;
  let otherDevKey: string;
  let unboundKey: string;
  const approvers: string[] = [];
  const clients: Client[] = [];

  const admin = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };

  async function startIngest(env: Record<string, string> = {}): Promise<void> {
    (sys.serviceEnv as Partial<Record<ServiceName, Record<string, string>>>).ingest = {
      ORCHESTRATOR_URL: sys.url('orchestrator'),
      ...env,
    };
    await sys.start('ingest');
  }

  async function connect(
    key: string,
    sessionId?: string,
  ): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
    const transport = new StreamableHTTPClientTransport(new URL(`${sys.url('ingest')}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${key}` } },
      ...(sessionId ? { sessionId } : {}),
    });
    const client = new Client({ name: 'warden-mcp-test', version: '1.0.0' });
    await client.connect(transport);
    clients.push(client);
    return { client, transport };
  }

  async function getRun(runId: string) {
    const r = await fetch(`${sys.url('orchestrator')}/v1/runs/${runId}`, { headers: admin });
    return r.status === 200
      ? ((await r.json()) as {
          status: string;
          agent: { id: string; role: string };
          session_id?: string;
          events: { type: string }[];
        })
      : undefined;
  }

  async function runsOfSession(sessionId: string): Promise<{ run_id: string; status: string }[]> {
    const r = await fetch(`${sys.url('orchestrator')}/v1/runs?session_id=${sessionId}&limit=100`, { headers: admin });
    return ((await r.json()) as { runs: { run_id: string; status: string }[] }).runs;
  }

  async function receivedCount(runId: string): Promise<number> {
    const msgs = await readAll(t.bus, t.subjects.streams.events, t.subjects.event(runId, 'task_received'));
    return msgs.length;
  }

  /** A raw JSON-RPC POST on an existing session (what a client retrying one request id sends). */
  async function rawCall(key: string, sessionId: string, id: number | string, name: string, args: unknown) {
    const r = await fetch(`${sys.url('ingest')}/mcp`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${key}`,
        'mcp-session-id': sessionId,
        'mcp-protocol-version': '2025-06-18',
        accept: 'application/json, text/event-stream',
        'content-type': 'application/json',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } }),
    });
    expect(r.status).toBe(200);
    const body = await r.text();
    const messages = body
      .split('\n')
      .filter((l) => l.startsWith('data: '))
      .map((l) => JSON.parse(l.slice(6)) as { id?: unknown; result?: CallToolResult });
    return messages.find((m) => m.id === id)!.result!;
  }

  beforeAll(async () => {
    t = await createTestEnv();
    workspace = mkdtempSync(join(tmpdir(), 'warden-mcp-'));
    writeFileSync(join(workspace, 'hello.txt'), 'hello, mcp\n');
    sys = new System(t, {
      WARDEN_WORKSPACE: workspace,
      WARDEN_BOOTSTRAP_ADMIN_TOKEN: ADMIN,
      WARDEN_DASHBOARD_URL: DASHBOARD,
      MCP_APPROVAL_WAIT_SECONDS: '60',
    });
    for (const s of ['policy', 'orchestrator', 'approvals', 'workers'] as const) await sys.start(s);
    await startIngest();
    api = new AdminApi(sys, ADMIN);
    const createKey = (agent?: { id: string; role: string }) =>
      api.createKey({ name: `mcp-${newId()}`, owner: 'mcp-test', agent, knownBy: 'mcp' });
    devKey = await createKey({ id: 'agent-mcp', role: 'dev' });
    otherDevKey = await createKey({ id: 'agent-other', role: 'dev' });
    researchKey = await createKey({ id: 'agent-research', role: 'research' });
    unboundKey = await createKey();
    approvers.push(await api.createApprover('alice-mcp'), await api.createApprover('bob-mcp'));
  });
  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    await sys?.stopAll();
    await t?.cleanup();
  });

  const initialize = (headers: Record<string, string>) =>
    fetch(`${sys.url('ingest')}/mcp`, {
      method: 'POST',
      headers: { accept: 'application/json, text/event-stream', 'content-type': 'application/json', ...headers },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
      }),
    });

  it('refuses no key and a bad key with 401 problem+json, before reading any message', async () => {
    for (const headers of [{}, { authorization: 'Bearer wk_not-a-key' }] as Record<string, string>[]) {
      const r = await initialize(headers);
      expect(r.status).toBe(401);
      expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(((await r.json()) as { status: number }).status).toBe(401);
    }
    await expect(connect('wk_not-a-key')).rejects.toThrow(/401|Unauthorized|invalid_token|auth/i);
  });

  it('refuses a key bound to no agent with 403 problem+json that says MCP keys must be bound', async () => {
    const r = await initialize({ authorization: `Bearer ${unboundKey}` });
    expect(r.status).toBe(403);
    expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(((await r.json()) as { detail: string }).detail).toMatch(/bound to one agent/);
    const op = await initialize({ authorization: `Bearer ${ADMIN}` });
    expect(op.status).toBe(403);
  });

  it('negotiates 2025-06-18 and 2025-11-25', async () => {
    for (const v of ['2025-06-18', '2025-11-25']) {
      const r = await fetch(`${sys.url('ingest')}/mcp`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${devKey}`,
          accept: 'application/json, text/event-stream',
          'content-type': 'application/json',
        },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'initialize',
          params: { protocolVersion: v, capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
        }),
      });
      expect(r.status).toBe(200);
      expect(r.headers.get('mcp-session-id')).toMatch(/^[0-9a-f-]{36}$/);
      expect(await r.text()).toContain(`"protocolVersion":"${v}"`);
    }
  });

  it("lists exactly the role's worker tools (with schemas and annotations) and warden.await_run", async () => {
    const { client: research } = await connect(researchKey);
    const listed = (await research.listTools()).tools;
    expect(listed.map((x) => x.name).sort()).toEqual(['fs.list_dir', 'fs.read_file', 'http.get', 'warden.await_run']);
    const read = listed.find((x) => x.name === 'fs.read_file')!;
    expect(read.inputSchema).toMatchObject({ type: 'object', required: ['path'] });
    expect(read.annotations).toMatchObject({ readOnlyHint: true, destructiveHint: false });
    expect(read.description).toMatch(/workspace/);

    const { client: dev } = await connect(devKey);
    const devTools = (await dev.listTools()).tools.map((x) => x.name).sort();
    expect(devTools).toEqual([...roleToolNames('dev'), 'warden.await_run'].sort());
    expect(devTools).not.toContain('email.send');
    const write = (await dev.listTools()).tools.find((x) => x.name === 'fs.write_file')!;
    expect(write.inputSchema.required).toEqual(expect.arrayContaining(['path', 'content']));
    expect(write.annotations).toMatchObject({ readOnlyHint: false, destructiveHint: true });
  });

  it("runs an allowed fs.write_file once: the file exists, the run shows the key's agent and the MCP session", async () => {
    const { client, transport } = await connect(devKey);
    const r = (await client.callTool({
      name: 'fs.write_file',
      arguments: { path: 'mcp/allowed.md', content: 'written over MCP' },
    })) as CallToolResult;
    expect(r.isError).toBeFalsy();
    expect(readFileSync(join(workspace, 'mcp/allowed.md'), 'utf8')).toBe('written over MCP');
    expect(r.structuredContent).toMatchObject({ path: 'mcp/allowed.md', bytes_written: 16 });
    const m = meta(r);
    expect(m).toMatchObject({ status: 'succeeded', outcome: 'allow', tier: 1 });
    expect(m.policy_digest).toMatch(/^sha256:/);
    // the call returns on the run's own events; the orchestrator's read model may still be a batch behind
    const run = await waitFor(async () => {
      const r = await getRun(m.run_id!);
      return r?.status === 'succeeded' ? r : undefined;
    }, 'the run succeeded in the orchestrator');
    expect(run.agent).toEqual({ id: 'agent-mcp', role: 'dev' });
    expect(run.session_id).toBe(transport.sessionId);
    expect(await receivedCount(m.run_id!)).toBe(1);
    expect(run.events.filter((e) => e.type === 'run_started')).toHaveLength(1);

    const read = (await client.callTool({ name: 'fs.read_file', arguments: { path: 'hello.txt' } })) as CallToolResult;
    expect(read.structuredContent).toMatchObject({ content: 'hello, mcp\n' });
    expect(text(read)).toContain('hello, mcp');
  });

  it('reads no run events while no call waits: the live follower starts with a call and stops when idle', async () => {
    const watcher = sys.apps.get('ingest')!.get(RunWatcher);
    watcher.idleMs = 300;
    await waitFor(() => !watcher.following, 'the follower left idle by earlier calls to stop', 35_000);
    // consumers on every run event from "new" on: the live follower is one; other services may hold their own
    const followers = async () =>
      (await t.bus.jsm.consumers.list(t.subjects.streams.events).next()).filter(
        (c) =>
          c.config.deliver_policy === 'new' &&
          (c.config.filter_subject === t.subjects.runEvents ||
            c.config.filter_subjects?.includes(t.subjects.runEvents)),
      ).length;
    const baseline = await followers();
    const { client } = await connect(researchKey);
    const read = (await client.callTool({ name: 'fs.read_file', arguments: { path: 'hello.txt' } })) as CallToolResult;
    expect(read.structuredContent).toMatchObject({ content: 'hello, mcp\n' });
    expect(watcher.following).toBe(true);
    expect(await followers()).toBe(baseline + 1); // the call's run came through the one live follower
    await waitFor(async () => !watcher.following && (await followers()) === baseline, 'the idle follower to stop');
    // the next call starts it again and gets its result
    const again = (await client.callTool({ name: 'fs.read_file', arguments: { path: 'hello.txt' } })) as CallToolResult;
    expect(again.structuredContent).toMatchObject({ content: 'hello, mcp\n' });
    watcher.idleMs = LIVE_IDLE_MS;
  });

  it('answers a denied call with isError, reasons and rule ids, and runs nothing', async () => {
    const { client } = await connect(devKey);
    const r = (await client.callTool({
      name: 'fs.write_file',
      arguments: { path: '../escape.md', content: 'x' },
    })) as CallToolResult;
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/denied/);
    expect(text(r)).toMatch(/policy rules: \S+/);
    expect(text(r)).toMatch(/Do not repeat/);
    expect(meta(r)).toMatchObject({ status: 'denied', outcome: 'deny' });
    expect(existsSync(join(workspace, '..', 'escape.md'))).toBe(false);
    expect((await getRun(meta(r).run_id!))!.events.map((e) => e.type)).not.toContain('run_started');
  });

  it('answers an out-of-role call with isError (the policy denies it) and runs nothing', async () => {
    const { client } = await connect(researchKey);
    const r = (await client.callTool({
      name: 'fs.write_file',
      arguments: { path: 'mcp/research.md', content: 'x' },
    })) as CallToolResult;
    expect(r.isError).toBe(true);
    expect(meta(r).status).toBe('denied');
    expect(existsSync(join(workspace, 'mcp/research.md'))).toBe(false);
    const unknown = (await client.callTool({ name: 'rocket.launch', arguments: {} })) as CallToolResult;
    expect(unknown.isError).toBe(true);
    expect(text(unknown)).toMatch(/TOOL\.UNKNOWN/);
    expect(meta(unknown).run_id).toBeNull();
  });

  it('answers invalid arguments with isError naming each field path, and proposes nothing', async () => {
    const { client, transport } = await connect(devKey);
    const r = (await client.callTool({
      name: 'fs.write_file',
      arguments: { path: 5, surprise: true },
    })) as CallToolResult;
    expect(r.isError).toBe(true);
    const paths = (r.structuredContent as { errors: { path: string }[] }).errors.map((e) => e.path).sort();
    expect(paths).toEqual(['arguments.content', 'arguments.path', 'arguments.surprise']);
    expect(text(r)).toContain('arguments.content');
    expect(meta(r)).toMatchObject({ run_id: null, status: 'not_submitted' });
    expect(await runsOfSession(transport.sessionId!)).toHaveLength(0);
  });

  it('makes one run of a retried request id', async () => {
    const { transport } = await connect(devKey);
    const sessionId = transport.sessionId!;
    const first = await rawCall(devKey, sessionId, 42, 'fs.write_file', { path: 'mcp/retried.md', content: 'once' });
    const again = await rawCall(devKey, sessionId, 42, 'fs.write_file', { path: 'mcp/retried.md', content: 'twice?' });
    expect(meta(again).run_id).toBe(meta(first).run_id);
    expect(meta(again).status).toBe('succeeded');
    expect(readFileSync(join(workspace, 'mcp/retried.md'), 'utf8')).toBe('once');
    expect(await receivedCount(meta(first).run_id!)).toBe(1);
    expect(await runsOfSession(sessionId)).toHaveLength(1);
  });

  it('waits on an escalation with progress naming the approval and the dashboard; approved over REST → the result', async () => {
    const { client, transport } = await connect(devKey);
    const progress: Progress[] = [];
    const call = client.callTool(
      { name: 'fs.write_file', arguments: { path: 'prod/mcp-approved.md', content: 'approved' } },
      undefined,
      { onprogress: (p) => progress.push(p), timeout: 60_000 },
    ) as Promise<CallToolResult>;
    const { run_id: runId } = await waitFor(async () => {
      const runs = await runsOfSession(transport.sessionId!);
      return runs[0];
    }, 'the run of the call');
    const approvalId = await api.pendingApprovalOf(runId);
    await waitFor(
      () => progress.some((p) => p.message?.includes(approvalId)),
      'a progress notification naming the approval',
    );
    const said = progress.find((p) => p.message?.includes(approvalId))!.message!;
    expect(said).toContain(DASHBOARD);
    expect(said).toContain(runId);
    expect(existsSync(join(workspace, 'prod/mcp-approved.md'))).toBe(false);
    expect(await api.vote(approvalId, approvers[0]!, 'approve', 'ok')).toBe(200);
    expect(await api.vote(approvalId, approvers[1]!, 'approve', 'ok too')).toBe(200);
    const r = await call;
    expect(r.isError).toBeFalsy();
    expect(meta(r)).toMatchObject({ run_id: runId, status: 'succeeded', outcome: 'escalate', tier: 3 });
    expect(readFileSync(join(workspace, 'prod/mcp-approved.md'), 'utf8')).toBe('approved');
  });

  it('answers a rejected escalation with isError and the reviewer comment; a forged success changes nothing', async () => {
    const { client, transport } = await connect(devKey);
    const call = client.callTool(
      { name: 'fs.write_file', arguments: { path: 'prod/mcp-rejected.md', content: 'no' } },
      undefined,
      { timeout: 60_000 },
    ) as Promise<CallToolResult>;
    const { run_id: runId } = await waitFor(async () => {
      const runs = await runsOfSession(transport.sessionId!);
      return runs[0];
    }, 'the run of the call');
    const approvalId = await api.pendingApprovalOf(runId);
    // someone with bus access forges the run's success: the waiting call must not take it
    const forged = forgeAs(
      makeEnvelope({
        type: 'run_succeeded',
        runId,
        producer: 'workers',
        traceId: '0af7651916cd43dd8448eb211c80319c',
        data: { result: { output: { forged: true }, output_hash: `sha256:${'0'.repeat(64)}` } },
      }),
    );
    await testPublisher(t).publishEvent(forged);
    expect(await api.vote(approvalId, approvers[0]!, 'reject', 'not in prod, please')).toBe(200);
    const r = await call;
    expect(r.isError).toBe(true);
    expect(text(r)).toContain('not in prod, please');
    expect(meta(r)).toMatchObject({ run_id: runId, status: 'rejected' });
    expect(existsSync(join(workspace, 'prod/mcp-rejected.md'))).toBe(false);
  });

  it('cancels a waiting call that has not started (notifications/cancelled)', async () => {
    const { client, transport } = await connect(devKey);
    const abort = new AbortController();
    const call = client.callTool(
      { name: 'fs.write_file', arguments: { path: 'prod/mcp-cancelled.md', content: 'never' } },
      undefined,
      { signal: abort.signal, timeout: 60_000 },
    );
    const { run_id: runId } = await waitFor(async () => {
      const runs = await runsOfSession(transport.sessionId!);
      return runs[0];
    }, 'the run of the call');
    await api.pendingApprovalOf(runId);
    abort.abort('the user changed their mind');
    await expect(call).rejects.toThrow();
    const run = await waitFor(async () => {
      const r = await getRun(runId);
      return r && TERMINAL.includes(r.status) ? r : undefined;
    }, 'the run to be cancelled');
    expect(run.status).toBe('cancelled');
    expect(existsSync(join(workspace, 'prod/mcp-cancelled.md'))).toBe(false);
  });

  it('loses nothing when the gateway restarts mid-wait: the same run via warden.await_run and the same request id', async () => {
    const { transport } = await connect(devKey);
    const sessionId = transport.sessionId!;
    const waiting = rawCall(devKey, sessionId, 7, 'fs.write_file', {
      path: 'prod/mcp-restart.md',
      content: 'survived',
    });
    const { run_id: runId } = await waitFor(async () => {
      const runs = await runsOfSession(sessionId);
      return runs[0];
    }, 'the run of the call');
    const approvalId = await api.pendingApprovalOf(runId);

    // a graceful stop answers the waiting call: still waiting, with its run id and how to resume
    await sys.stop('ingest');
    const interrupted = await waiting;
    expect(interrupted.isError).toBeFalsy();
    expect(meta(interrupted)).toMatchObject({ run_id: runId, status: 'awaiting_approval' });
    expect(text(interrupted)).toContain('warden.await_run');

    // another gateway (new port, short wait); the session lives on in Postgres
    await startIngest({ MCP_APPROVAL_WAIT_SECONDS: '1' });
    const { client } = await connect(devKey, sessionId);
    const still = (await client.callTool({ name: 'warden.await_run', arguments: { run_id: runId } })) as CallToolResult;
    expect(still.isError).toBeFalsy();
    expect(still.structuredContent).toMatchObject({ waiting: true, run_id: runId, approval_id: approvalId });
    // another agent cannot wait for (or learn about) this run
    const { client: other } = await connect(otherDevKey);
    const foreign = (await other.callTool({
      name: 'warden.await_run',
      arguments: { run_id: runId },
    })) as CallToolResult;
    expect(foreign.isError).toBe(true);

    expect(await api.vote(approvalId, approvers[0]!, 'approve', 'fine')).toBe(200);
    expect(await api.vote(approvalId, approvers[1]!, 'approve', 'fine')).toBe(200);
    const done = await waitFor(async () => {
      const r = (await client.callTool({ name: 'warden.await_run', arguments: { run_id: runId } })) as CallToolResult;
      return meta(r).status === 'succeeded' ? r : undefined;
    }, 'the resumed call to finish');
    expect(done.isError).toBeFalsy();
    expect(readFileSync(join(workspace, 'prod/mcp-restart.md'), 'utf8')).toBe('survived');
    // the same request id asked again: the same run, never a second one
    const same = await rawCall(devKey, sessionId, 7, 'fs.write_file', {
      path: 'prod/mcp-restart.md',
      content: 'survived',
    });
    expect(meta(same)).toMatchObject({ run_id: runId, status: 'succeeded' });
    expect(await runsOfSession(sessionId)).toHaveLength(1);
    expect(await receivedCount(runId)).toBe(1);
  });

  it('ends a session on DELETE: its id is then unknown (404)', async () => {
    const { client, transport } = await connect(devKey);
    const sessionId = transport.sessionId!;
    await transport.terminateSession();
    await client.close();
    const r = await fetch(`${sys.url('ingest')}/mcp`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${devKey}`,
        'mcp-session-id': sessionId,
        accept: 'application/json, text/event-stream',
        'content-type': 'application/json',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(r.status).toBe(404);
  });
});
