import type { EntityManager } from 'typeorm';
import { textArrayLiteral } from '@warden/persistence';
import type { SubmissionRecord } from '../domain/admission.decide';
import type { Candidate, ExistingSubmission } from '../domain/submission';

/**
 * A row of `ingest.submissions`: one per run ingest created; the dedupe source of truth. The bus
 * provenance (`sourceStream`, `sourceSeq`) is null for rows rebuilt from events, which do not carry it.
 */
export type SubmissionRow = SubmissionRecord;

const TABLE = '"ingest".submissions';

/** All SQL on `ingest.submissions`. Callers pass the transaction's EntityManager. */
export class SubmissionRepository {
  /**
   * Inserts rows in one statement; a row colliding on run id, event id or agent + idempotency key
   * (with a stored row or a row inserted before it by the same call) is skipped. Rows go in ordered
   * by agent + idempotency key, then as given: of several with the same key the first given wins,
   * and two concurrent calls wait on each other's keys in one order, so they cannot deadlock on them.
   * Returns the event ids of the rows that went in.
   */
  async insert(em: EntityManager, rows: readonly SubmissionRow[]): Promise<string[]> {
    if (rows.length === 0) return [];
    const inserted: { event_id: string }[] = await em.query(
      insertSql(['$1', '$2', '$3', '$4', '$5', '$6', '$7', '$8']),
      columnsOf(rows),
    );
    return inserted.map((r) => r.event_id);
  }

  /**
   * {@link insert} as simple-protocol text, every value an escaped literal (Postgres casts and checks
   * them as it does parameters), to open the admission's transaction with: `BEGIN` and the insert in
   * one round trip (see simpleTransaction). Its one result's rows are the event ids that went in.
   */
  static insertText(rows: readonly SubmissionRow[]): string {
    return insertSql(columnsOf(rows).map((values) => textArrayLiteral(values, 'text')));
  }

  /** In one query, the stored rows any of `candidates` could have collided with (see `collidingRows`). */
  async conflicting(em: EntityManager, candidates: readonly Candidate[]): Promise<ExistingSubmission[]> {
    if (candidates.length === 0) return [];
    const keyed = candidates.filter((c) => c.idempotencyKey != null);
    // one indexed lookup per unique key; UNION drops a row found by several
    const rows: {
      run_id: string;
      agent_id: string;
      idempotency_key: string | null;
      event_id: string;
      created_at: Date;
    }[] = await em.query(
      `SELECT run_id, agent_id, idempotency_key, event_id, created_at FROM ${TABLE} WHERE run_id = ANY($1::uuid[])
       UNION
       SELECT run_id, agent_id, idempotency_key, event_id, created_at FROM ${TABLE} WHERE event_id = ANY($2::uuid[])
       UNION
       SELECT s.run_id, s.agent_id, s.idempotency_key, s.event_id, s.created_at
       FROM unnest($3::text[], $4::text[]) AS k(agent_id, idempotency_key)
       JOIN ${TABLE} s ON s.agent_id = k.agent_id AND s.idempotency_key = k.idempotency_key AND s.idempotency_key IS NOT NULL`,
      [
        candidates.map((c) => c.runId),
        candidates.map((c) => c.eventId),
        keyed.map((c) => c.agentId),
        keyed.map((c) => c.idempotencyKey),
      ],
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

/** The insert's eight columns, each as the values of every row (in the order {@link insertSql} takes them). */
function columnsOf(rows: readonly SubmissionRow[]): (string | null)[][] {
  return [
    rows.map((r) => r.runId),
    rows.map((r) => r.agentId),
    rows.map((r) => r.idempotencyKey),
    rows.map((r) => r.traceId),
    rows.map((r) => r.sourceStream),
    rows.map((r) => (r.sourceSeq === null ? null : String(r.sourceSeq))),
    rows.map((r) => r.eventId),
    rows.map((r) => r.createdAt.toISOString()),
  ];
}

/**
 * The insert of {@link SubmissionRepository.insert}, given its eight array expressions (parameters, or
 * text-array literals: each is cast here, so a value Postgres cannot take fails the same way either way).
 */
function insertSql(a: readonly string[]): string {
  return `INSERT INTO ${TABLE} (run_id, agent_id, idempotency_key, trace_id, source_stream, source_seq, event_id, created_at)
       SELECT x.run_id, x.agent_id, x.idempotency_key, x.trace_id, x.source_stream, x.source_seq, x.event_id, x.created_at
       FROM unnest(${a[0]}::uuid[], ${a[1]}::text[], ${a[2]}::text[], ${a[3]}::text[], ${a[4]}::text[], ${a[5]}::bigint[], ${a[6]}::uuid[], ${a[7]}::timestamptz[])
         WITH ORDINALITY AS x(run_id, agent_id, idempotency_key, trace_id, source_stream, source_seq, event_id, created_at, ord)
       ORDER BY x.agent_id, x.idempotency_key, x.ord
       ON CONFLICT DO NOTHING
       RETURNING event_id`;
}
