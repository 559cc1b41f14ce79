import type { EntityManager } from 'typeorm';
import type { ExistingSubmission } from '../domain/submission';

/** A row of `ingest.submissions`: one per run ingest created; the dedupe source of truth. */
export interface SubmissionRow {
  runId: string;
  agentId: string;
  idempotencyKey: string | null;
  traceId: string;
  /** Provenance on the bus; null for rows rebuilt from events (the event does not carry it). */
  sourceStream: string | null;
  sourceSeq: number | null;
  eventId: string;
  createdAt: Date;
}

const TABLE = '"ingest".submissions';

/** All SQL on `ingest.submissions`. Callers pass the transaction's EntityManager. */
export class SubmissionRepository {
  /** Inserts rows; a row colliding on run id, event id or agent + idempotency key is skipped. Returns how many went in. */
  async insert(em: EntityManager, rows: readonly SubmissionRow[]): Promise<number> {
    if (rows.length === 0) return 0;
    const inserted: unknown[] = await em.query(
      `INSERT INTO ${TABLE} (run_id, agent_id, idempotency_key, trace_id, source_stream, source_seq, event_id, created_at)
       SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::uuid[], $8::timestamptz[])
       ON CONFLICT DO NOTHING
       RETURNING run_id`,
      [
        rows.map((r) => r.runId),
        rows.map((r) => r.agentId),
        rows.map((r) => r.idempotencyKey),
        rows.map((r) => r.traceId),
        rows.map((r) => r.sourceStream),
        rows.map((r) => (r.sourceSeq === null ? null : String(r.sourceSeq))),
        rows.map((r) => r.eventId),
        rows.map((r) => r.createdAt.toISOString()),
      ],
    );
    return inserted.length;
  }

  /** The rows a submission could have collided with. */
  async conflicting(
    em: EntityManager,
    c: { runId: string; eventId: string; agentId: string; idempotencyKey: string | null },
  ): Promise<ExistingSubmission[]> {
    const rows: {
      run_id: string;
      agent_id: string;
      idempotency_key: string | null;
      event_id: string;
      created_at: Date;
    }[] = await em.query(
      `SELECT run_id, agent_id, idempotency_key, event_id, created_at FROM ${TABLE}
       WHERE run_id = $1 OR event_id = $2 OR (agent_id = $3 AND idempotency_key = $4)`,
      [c.runId, c.eventId, c.agentId, c.idempotencyKey],
    );
    return rows.map((r) => ({
      runId: r.run_id,
      agentId: r.agent_id,
      idempotencyKey: r.idempotency_key,
      eventId: r.event_id,
      createdAt: new Date(r.created_at),
    }));
  }

  async deleteAll(em: EntityManager): Promise<void> {
    await em.query(`DELETE FROM ${TABLE}`);
  }
}
