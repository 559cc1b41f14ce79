import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * MCP tasks (spec 2025-11-25, "tasks" utility): one row per task-augmented `tools/call`, so any ingest
 * replica answers `tasks/get|result|cancel|list` for it, also after a restart. The row names the run;
 * the task's status is derived from the run's (signed) events and only cached here (`status`, `result`
 * once terminal). A task without a run is a call refused before anything was proposed (its `isError`
 * result is the task's result). One task per (session, JSON-RPC request id): a retried request gets the
 * same task.
 */
export class McpTasks1700000000021 implements MigrationInterface {
  name = 'McpTasks1700000000021';
  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE IF NOT EXISTS "ingest".mcp_tasks (
      task_id uuid PRIMARY KEY,
      session_id uuid NOT NULL REFERENCES "ingest".mcp_sessions (session_id) ON DELETE CASCADE,
      request_key text NOT NULL,
      run_id uuid,
      status text NOT NULL,
      status_message text,
      result jsonb,
      ttl_ms bigint,
      poll_interval_ms integer NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      last_updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (session_id, request_key)
    )`);
    await q.query(
      `CREATE INDEX IF NOT EXISTS mcp_tasks_session_created ON "ingest".mcp_tasks (session_id, created_at, task_id)`,
    );
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE IF EXISTS "ingest".mcp_tasks');
  }
}
