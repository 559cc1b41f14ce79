import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * MCP gateway sessions: one row per MCP session (= one Warden session_id), so any ingest replica can
 * serve any request of it. Calls need no table of their own: a `tools/call`'s idempotency key is
 * derived from (session, JSON-RPC request id), and `ingest.submissions` maps (agent, key) → run.
 */
export class McpSessions1700000000020 implements MigrationInterface {
  name = 'McpSessions1700000000020';
  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE IF NOT EXISTS "ingest".mcp_sessions (
      session_id uuid PRIMARY KEY,
      key_id text NOT NULL,
      agent_id text NOT NULL,
      agent_role text NOT NULL,
      protocol_version text NOT NULL,
      client_info jsonb,
      client_capabilities jsonb,
      created_at timestamptz NOT NULL DEFAULT now(),
      last_seen_at timestamptz NOT NULL DEFAULT now(),
      ended_at timestamptz
    )`);
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE IF EXISTS "ingest".mcp_sessions');
  }
}
