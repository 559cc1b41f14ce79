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

const SESSIONS = '"ingest".mcp_sessions';
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
}
