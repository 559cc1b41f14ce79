import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { DATA_SOURCE } from '@warden/runtime';

/** One MCP session (= one Warden `session_id`), shared by every ingest replica. */
export interface McpSession {
  sessionId: string;
  keyId: string;
  agent: { id: string; role: string };
  protocolVersion: string;
  clientInfo: unknown;
  clientCapabilities: unknown;
  endedAt: Date | null;
}

/** One MCP task (one task-augmented `tools/call`) as stored; its status is a cache of its run's. */
export interface McpTaskRow {
  taskId: string;
  sessionId: string;
  requestKey: string;
  runId: string | null;
  status: string;
  statusMessage: string | null;
  result: Record<string, unknown> | null;
  ttlMs: number | null;
  pollIntervalMs: number;
  createdAt: Date;
  lastUpdatedAt: Date;
}

type TaskDbRow = {
  task_id: string;
  session_id: string;
  request_key: string;
  run_id: string | null;
  status: string;
  status_message: string | null;
  result: Record<string, unknown> | null;
  ttl_ms: string | number | null;
  poll_interval_ms: number;
  created_at: Date;
  last_updated_at: Date;
};

function taskRow(r: TaskDbRow): McpTaskRow {
  return {
    taskId: r.task_id,
    sessionId: r.session_id,
    requestKey: r.request_key,
    runId: r.run_id,
    status: r.status,
    statusMessage: r.status_message,
    result: r.result,
    ttlMs: r.ttl_ms === null ? null : Number(r.ttl_ms),
    pollIntervalMs: r.poll_interval_ms,
    createdAt: new Date(r.created_at),
    lastUpdatedAt: new Date(r.last_updated_at),
  };
}

const SESSIONS = '"ingest".mcp_sessions';
const TASKS = '"ingest".mcp_tasks';
/** A task is visible until `ttl` after its creation (null: until its session is deleted). */
const live = (t = '') => `(${t}ttl_ms IS NULL OR ${t}created_at + ${t}ttl_ms * interval '1 millisecond' > now())`;
const SUBMISSIONS = '"ingest".submissions';

/** All SQL of the MCP gateway: its sessions, and the runs it proposed (read from `ingest.submissions`). */
@Injectable()
export class McpSessionRepository {
  constructor(@Inject(DATA_SOURCE) private readonly ds: DataSource) {}

  async create(s: Omit<McpSession, 'endedAt'>): Promise<void> {
    await this.ds.query(
      `INSERT INTO ${SESSIONS} (session_id, key_id, agent_id, agent_role, protocol_version, client_info, client_capabilities)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        s.sessionId,
        s.keyId,
        s.agent.id,
        s.agent.role,
        s.protocolVersion,
        JSON.stringify(s.clientInfo ?? null),
        JSON.stringify(s.clientCapabilities ?? null),
      ],
    );
  }

  async get(sessionId: string): Promise<McpSession | undefined> {
    const rows: {
      session_id: string;
      key_id: string;
      agent_id: string;
      agent_role: string;
      protocol_version: string;
      client_info: unknown;
      client_capabilities: unknown;
      ended_at: Date | null;
    }[] = await this.ds.query(`SELECT * FROM ${SESSIONS} WHERE session_id = $1`, [sessionId]);
    const r = rows[0];
    if (!r) return undefined;
    return {
      sessionId: r.session_id,
      keyId: r.key_id,
      agent: { id: r.agent_id, role: r.agent_role },
      protocolVersion: r.protocol_version,
      clientInfo: r.client_info,
      clientCapabilities: r.client_capabilities,
      endedAt: r.ended_at ? new Date(r.ended_at) : null,
    };
  }

  /** Ends a session (DELETE /mcp); true if it was open. */
  async end(sessionId: string): Promise<boolean> {
    const r: [unknown[], number] = await this.ds.query(
      `UPDATE ${SESSIONS} SET ended_at = now() WHERE session_id = $1 AND ended_at IS NULL`,
      [sessionId],
    );
    return r[1] > 0;
  }

  /** The run an (agent, idempotency key) created, if any. */
  async runFor(agentId: string, idempotencyKey: string): Promise<string | undefined> {
    const rows: { run_id: string }[] = await this.ds.query(
      `SELECT run_id FROM ${SUBMISSIONS} WHERE agent_id = $1 AND idempotency_key = $2`,
      [agentId, idempotencyKey],
    );
    return rows[0]?.run_id;
  }

  /** The agent that proposed a run (ingest created every run), if the run exists. */
  async agentOf(runId: string): Promise<string | undefined> {
    const rows: { agent_id: string }[] = await this.ds.query(`SELECT agent_id FROM ${SUBMISSIONS} WHERE run_id = $1`, [
      runId,
    ]);
    return rows[0]?.agent_id;
  }

  /**
   * Records the task of (session, request key), or finds the one a retried request made: one task per
   * request, whichever replica answered it first.
   */
  async createTask(t: Omit<McpTaskRow, 'createdAt' | 'lastUpdatedAt'>): Promise<McpTaskRow> {
    const rows: TaskDbRow[] = await this.ds.query(
      `WITH ins AS (
         INSERT INTO ${TASKS} (task_id, session_id, request_key, run_id, status, status_message, result, ttl_ms, poll_interval_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (session_id, request_key) DO NOTHING
         RETURNING *)
       SELECT * FROM ins
       UNION ALL
       SELECT * FROM ${TASKS} WHERE session_id = $2 AND request_key = $3 AND NOT EXISTS (SELECT 1 FROM ins)`,
      [
        t.taskId,
        t.sessionId,
        t.requestKey,
        t.runId,
        t.status,
        t.statusMessage,
        t.result === null ? null : JSON.stringify(t.result),
        t.ttlMs,
        t.pollIntervalMs,
      ],
    );
    const r = rows[0];
    if (!r) throw new Error(`task of ${t.requestKey} vanished while it was created`);
    return taskRow(r);
  }

  /** A live task of `sessionId` (another session's task is not found). */
  async getTask(sessionId: string, taskId: string): Promise<McpTaskRow | undefined> {
    const rows: TaskDbRow[] = await this.ds.query(
      `SELECT * FROM ${TASKS} WHERE task_id = $1 AND session_id = $2 AND ${live()}`,
      [taskId, sessionId],
    );
    return rows[0] ? taskRow(rows[0]) : undefined;
  }

  /**
   * Caches a task's status (and its result once terminal). Never moves a terminal task: the update
   * applies only while the stored status is not terminal; returns the row as it is after.
   */
  async updateTask(
    sessionId: string,
    taskId: string,
    u: { status: string; statusMessage: string | null; result?: Record<string, unknown> },
  ): Promise<McpTaskRow | undefined> {
    await this.ds.query(
      `UPDATE ${TASKS} SET status = $3, status_message = $4, result = COALESCE($5::jsonb, result), last_updated_at = now()
       WHERE task_id = $1 AND session_id = $2 AND status NOT IN ('completed', 'failed', 'cancelled')
         AND (status <> $3 OR status_message IS DISTINCT FROM $4 OR $5::jsonb IS NOT NULL)`,
      [taskId, sessionId, u.status, u.statusMessage, u.result ? JSON.stringify(u.result) : null],
    );
    return this.getTask(sessionId, taskId);
  }

  /** A page of the live tasks of a session, oldest first; `after` is the last task id of the page before. */
  async listTasks(sessionId: string, limit: number, after?: string): Promise<McpTaskRow[]> {
    const rows: TaskDbRow[] = after
      ? await this.ds.query(
          `SELECT t.* FROM ${TASKS} t, ${TASKS} c
           WHERE c.task_id = $2 AND c.session_id = $1 AND t.session_id = $1 AND ${live('t.')}
             AND (t.created_at, t.task_id) > (c.created_at, c.task_id)
           ORDER BY t.created_at, t.task_id LIMIT $3`,
          [sessionId, after, limit],
        )
      : await this.ds.query(
          `SELECT * FROM ${TASKS} WHERE session_id = $1 AND ${live()} ORDER BY created_at, task_id LIMIT $2`,
          [sessionId, limit],
        );
    return rows.map(taskRow);
  }
}
