import { Logger } from '@warden/observability';
import type { RunView } from './domain/run-view';
import type { McpSession, McpSessionRepository, McpTaskRow } from './projections/mcp-session.repository';
import { PgTaskStore, type TaskStoreDeps } from './mcp-task-store';
import type { CancelOutcome } from './run-canceller';

const SESSION: McpSession = {
  sessionId: '00000000-0000-4000-8000-000000000001',
  keyId: 'k',
  agent: { id: 'a', role: 'dev' },
  protocolVersion: '2025-11-25',
  clientInfo: null,
  clientCapabilities: null,
  endedAt: null,
};
const TERMINAL = ['completed', 'failed', 'cancelled'];

/** An in-memory stand-in for the task SQL, with the repository's rule: a terminal row never moves. */
function fakeRepo() {
  const rows = new Map<string, McpTaskRow>();
  const repo = {
    createTask: async (t: Omit<McpTaskRow, 'createdAt' | 'lastUpdatedAt'>) => {
      const found = [...rows.values()].find((r) => r.sessionId === t.sessionId && r.requestKey === t.requestKey);
      if (found) return found;
      const row = { ...t, createdAt: new Date(), lastUpdatedAt: new Date() };
      rows.set(t.taskId, row);
      return row;
    },
    getTask: async (sessionId: string, taskId: string) => {
      const r = rows.get(taskId);
      return r && r.sessionId === sessionId ? r : undefined;
    },
    updateTask: async (
      sessionId: string,
      taskId: string,
      u: { status: string; statusMessage: string | null; result?: Record<string, unknown> },
    ) => {
      const r = rows.get(taskId);
      if (r && r.sessionId === sessionId && !TERMINAL.includes(r.status))
        rows.set(taskId, { ...r, status: u.status, statusMessage: u.statusMessage, result: u.result ?? r.result });
      return rows.get(taskId);
    },
    listTasks: async (sessionId: string) => [...rows.values()].filter((r) => r.sessionId === sessionId),
  };
  return repo as unknown as McpSessionRepository;
}

function storeWith(view: () => RunView, cancel: CancelOutcome = 'cancelled') {
  const snapshots: string[] = [];
  const deps: TaskStoreDeps = {
    repo: fakeRepo(),
    watcher: { snapshot: async (runId) => (snapshots.push(runId), view()) },
    cancel: async () => cancel,
    hints: { dashboardUrl: 'http://dash/' },
    log: new Logger('test', 'text', 'error'),
  };
  return { store: new PgTaskStore(SESSION, deps), snapshots, deps };
}

const create = (store: PgTaskStore, runId: string | null, requestKey = 'mcp:s:1') =>
  store.createTask({ context: { requestKey, runId } }, 1, { method: 'tools/call', params: {} });

describe('PgTaskStore: the SDK task store over the run', () => {
  it('derives the status from the run on every read, and keeps the result once terminal', async () => {
    let view: RunView = { runId: 'r1', status: 'received' };
    const { store, snapshots } = storeWith(() => view);
    const task = await create(store, 'r1');
    expect(task.status).toBe('working');
    view = { runId: 'r1', status: 'succeeded', result: { output: { ok: 1 }, output_hash: 'sha256:x' } as never };
    expect((await store.getTask(task.taskId))?.status).toBe('completed');
    const reads = snapshots.length;
    // terminal: no more replays, and a later (forged or late) view changes nothing
    view = { runId: 'r1', status: 'failed' };
    expect((await store.getTask(task.taskId))?.status).toBe('completed');
    expect(snapshots.length).toBe(reads);
    expect(await store.getTaskResult(task.taskId)).toMatchObject({ structuredContent: { ok: 1 } });
  });

  it('a retried request key finds the same task', async () => {
    const { store } = storeWith(() => ({ runId: 'r1', status: 'received' }));
    const a = await create(store, 'r1');
    const b = await create(store, 'r1');
    expect(b.taskId).toBe(a.taskId);
  });

  it('a task of another session is not found', async () => {
    const { store, deps } = storeWith(() => ({ runId: 'r1', status: 'received' }));
    const task = await create(store, 'r1');
    const other = new PgTaskStore({ ...SESSION, sessionId: '00000000-0000-4000-8000-000000000002' }, deps);
    expect(await other.getTask(task.taskId)).toBeNull();
    await expect(other.getTaskResult(task.taskId)).rejects.toThrow(/not found/);
  });

  it.each([
    ['started', /has started/],
    ['terminal', /already finished/],
    ['unavailable', /could not be cancelled/],
    ['no_credential', /could not be cancelled/],
  ] as const)('tasks/cancel of a run whose cancellation is %s is an error; the task goes on', async (outcome, why) => {
    const { store } = storeWith(() => ({ runId: 'r1', status: 'running' }), outcome);
    const task = await create(store, 'r1');
    await expect(store.updateTaskStatus(task.taskId, 'cancelled')).rejects.toThrow(why);
    expect((await store.getTask(task.taskId))?.status).toBe('working');
  });

  it('tasks/cancel of a run that had not started cancels the task; its result says so', async () => {
    const { store } = storeWith(() => ({ runId: 'r1', status: 'awaiting_approval' }));
    const task = await create(store, 'r1');
    await store.updateTaskStatus(task.taskId, 'cancelled');
    expect((await store.getTask(task.taskId))?.status).toBe('cancelled');
    expect(await store.getTaskResult(task.taskId)).toMatchObject({ isError: true });
  });

  it('a call refused before anything was proposed is a failed task whose result is the refusal', async () => {
    const { store, snapshots } = storeWith(() => ({ runId: 'x', status: 'none' }));
    const refused = { isError: true, content: [{ type: 'text' as const, text: 'Invalid arguments' }] };
    const task = await store.createTask({ context: { requestKey: 'mcp:s:2', runId: null, refused } }, 2, {
      method: 'tools/call',
      params: {},
    });
    expect(task.status).toBe('failed');
    expect(await store.getTaskResult(task.taskId)).toEqual(refused);
    expect(snapshots).toHaveLength(0);
  });

  it('an id that is no uuid is simply not found', async () => {
    const { store } = storeWith(() => ({ runId: 'r1', status: 'received' }));
    expect(await store.getTask("1' OR '1'='1")).toBeNull();
  });
});
