import type { CreateTaskOptions, TaskStore } from '@modelcontextprotocol/sdk/experimental/tasks/interfaces.js';
import {
  ErrorCode,
  McpError,
  type Request,
  type RequestId,
  type Result,
  type Task,
} from '@modelcontextprotocol/sdk/types.js';
import { newId } from '@warden/kernel';
import { Logger } from '@warden/observability';
import { terminalResult, type ApprovalHints, type ToolCallResult } from './domain/run-view';
import { taskStateOf, taskTerminal, type TaskStatus } from './domain/task-view';
import type { McpSession } from './projections/mcp-session.repository';
import { McpSessionRepository, type McpTaskRow } from './projections/mcp-session.repository';
import type { CancelOutcome } from './run-canceller';
import type { RunWatcher } from './run-watcher';

/** How long a task stays readable when the client asks for no ttl or a longer one than this. */
export const MAX_TASK_TTL_MS = 7 * 24 * 3600 * 1000;
/** What the gateway suggests between two `tasks/get` (each reads the run's events once). */
export const TASK_POLL_INTERVAL_MS = 1000;
const PAGE = 50;

/** What a task-augmented `tools/call` hands the store (through `CreateTaskOptions.context`). */
export interface WardenTaskContext {
  /** `callKey(session, request id)`: a retried request finds the task the first one made. */
  requestKey: string;
  /** The run the call proposed, or null when it was refused before anything was proposed. */
  runId: string | null;
  /** For a refused call: its `isError` result (the task is created failed). */
  refused?: ToolCallResult;
}

export interface TaskStoreDeps {
  repo: McpSessionRepository;
  watcher: Pick<RunWatcher, 'snapshot'>;
  cancel: (runId: string) => Promise<CancelOutcome>;
  hints: ApprovalHints;
  log: Logger;
}

/**
 * The SDK's `TaskStore` over Postgres and the run's events, for one MCP session (the gateway builds
 * one per request of that session; the SDK's own `sessionId` argument is unused, since the gateway's
 * transports are stateless). A task is a row naming its run; its status is derived from the run's
 * signed events on every read (`RunWatcher.snapshot`) and cached in the row, the result too once
 * terminal. So `tasks/get|result|cancel|list` answer the same on every replica and after a restart,
 * and a forged event changes nothing.
 */
export class PgTaskStore implements TaskStore {
  constructor(
    private readonly session: McpSession,
    private readonly deps: TaskStoreDeps,
  ) {}

  async createTask(params: CreateTaskOptions, _requestId: RequestId, _request: Request): Promise<Task> {
    const ctx = params.context as WardenTaskContext | undefined;
    if (!ctx) throw new Error('a Warden task is created by the gateway only (context missing)');
    const ttl = params.ttl == null ? MAX_TASK_TTL_MS : Math.min(Math.max(params.ttl, 60_000), MAX_TASK_TTL_MS);
    const row = await this.deps.repo.createTask({
      taskId: newId(),
      sessionId: this.session.sessionId,
      requestKey: ctx.requestKey,
      runId: ctx.runId,
      status: ctx.refused ? 'failed' : 'working',
      statusMessage: ctx.refused
        ? 'Refused before anything was proposed: tasks/result says why.'
        : `Run ${ctx.runId} received: Warden policy is judging it.`,
      result: ctx.refused ?? null,
      ttlMs: ttl,
      pollIntervalMs: TASK_POLL_INTERVAL_MS,
    });
    return this.fresh(row);
  }

  async getTask(taskId: string): Promise<Task | null> {
    const row = await this.row(taskId);
    return row ? this.fresh(row) : null;
  }

  /** Unused by the gateway (results are derived from the run); kept for the interface. */
  async storeTaskResult(taskId: string, status: 'completed' | 'failed', result: Result): Promise<void> {
    await this.deps.repo.updateTask(this.session.sessionId, taskId, {
      status,
      statusMessage: null,
      result: result as Record<string, unknown>,
    });
  }

  async getTaskResult(taskId: string): Promise<Result> {
    const row = await this.row(taskId);
    if (!row) throw new McpError(ErrorCode.InvalidParams, `Task not found: ${taskId}`);
    const synced = await this.sync(row);
    if (synced.result) return synced.result as Result;
    if (synced.status === 'cancelled')
      // cancelled by tasks/cancel: the orchestrator accepted it, its run_cancelled event is on its way
      return {
        isError: true,
        content: [{ type: 'text', text: `This call was cancelled at your request (run ${row.runId}); nothing ran.` }],
        _meta: {
          'warden/run': { run_id: row.runId, status: 'cancelled', outcome: null, tier: null, policy_digest: null },
        },
      };
    throw new McpError(ErrorCode.InvalidRequest, `Task ${taskId} has no result yet (${synced.status})`);
  }

  /**
   * `tasks/cancel` (the SDK calls this with `cancelled`): cancels the run if it has not started, through
   * the orchestrator (the one place that decides). A run that started, or a cancellation that could not
   * be made, is an error the client reads; the task then goes on.
   */
  async updateTaskStatus(taskId: string, status: Task['status'], statusMessage?: string): Promise<void> {
    const row = await this.row(taskId);
    if (!row) throw new McpError(ErrorCode.InvalidParams, `Task not found: ${taskId}`);
    if (status !== 'cancelled' || !row.runId) {
      await this.deps.repo.updateTask(this.session.sessionId, taskId, { status, statusMessage: statusMessage ?? null });
      return;
    }
    const outcome = await this.deps.cancel(row.runId);
    this.deps.log.info('mcp task cancelled by the client', { run_id: row.runId, outcome });
    switch (outcome) {
      case 'cancelled':
        await this.deps.repo.updateTask(this.session.sessionId, taskId, {
          status: 'cancelled',
          statusMessage: `Cancelled at the client's request; run ${row.runId} will not run.`,
        });
        return;
      case 'started':
        throw new Error(`run ${row.runId} has started: Warden cancels only runs that have not started`);
      case 'terminal':
        throw new Error(`run ${row.runId} has already finished`);
      case 'unknown_run':
      case 'no_credential':
      case 'unavailable':
        throw new Error(`run ${row.runId} could not be cancelled right now (${outcome}); try again`);
    }
  }

  async listTasks(cursor?: string): Promise<{ tasks: Task[]; nextCursor?: string }> {
    const rows = await this.deps.repo.listTasks(this.session.sessionId, PAGE, cursor);
    // listed as cached: reading every run here would make a list cost a replay per task
    const tasks = rows.map(toTask);
    const last = rows[rows.length - 1];
    return { tasks, ...(rows.length === PAGE && last ? { nextCursor: last.taskId } : {}) };
  }

  private row(taskId: string): Promise<McpTaskRow | undefined> {
    // not a uuid: no such task (and no SQL error)
    return /^[0-9a-f-]{36}$/i.test(taskId)
      ? this.deps.repo.getTask(this.session.sessionId, taskId)
      : Promise.resolve(undefined);
  }

  private async fresh(row: McpTaskRow): Promise<Task> {
    return toTask(await this.sync(row));
  }

  /** Brings the row up to its run's events (terminal rows never change). */
  private async sync(row: McpTaskRow): Promise<McpTaskRow> {
    if (taskTerminal(row.status) || !row.runId) return row;
    const view = await this.deps.watcher.snapshot(row.runId);
    const state = taskStateOf(view, this.deps.hints);
    const terminal = taskTerminal(state.status);
    if (!terminal && state.status === row.status && state.statusMessage === row.statusMessage) return row;
    const updated = await this.deps.repo.updateTask(this.session.sessionId, row.taskId, {
      status: state.status,
      statusMessage: state.statusMessage,
      ...(terminal ? { result: terminalResult(view) } : {}),
    });
    return updated ?? row;
  }
}

function toTask(row: McpTaskRow): Task {
  return {
    taskId: row.taskId,
    status: row.status as TaskStatus,
    ttl: row.ttlMs,
    createdAt: row.createdAt.toISOString(),
    lastUpdatedAt: row.lastUpdatedAt.toISOString(),
    pollInterval: row.pollIntervalMs,
    ...(row.statusMessage ? { statusMessage: row.statusMessage } : {}),
  };
}
