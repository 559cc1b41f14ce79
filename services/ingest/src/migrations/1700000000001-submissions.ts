import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The dedupe table: one row per run ingest created. */
export class Submissions1700000000001 implements MigrationInterface {
  name = 'Submissions1700000000001';
  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE IF NOT EXISTS "ingest".submissions (
      run_id uuid PRIMARY KEY,
      agent_id text NOT NULL,
      idempotency_key text,
      trace_id text NOT NULL,
      source_stream text,
      source_seq bigint,
      event_id uuid NOT NULL UNIQUE,
      created_at timestamptz NOT NULL DEFAULT now()
    )`);
    await q.query(`CREATE UNIQUE INDEX IF NOT EXISTS submissions_agent_idempotency_key
      ON "ingest".submissions (agent_id, idempotency_key) WHERE idempotency_key IS NOT NULL`);
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE IF EXISTS "ingest".submissions');
  }
}
