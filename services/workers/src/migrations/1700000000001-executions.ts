import type { MigrationInterface, QueryRunner } from 'typeorm';

/** At-most-once claims per run, and the record of every refused command. */
export class Executions1700000000001 implements MigrationInterface {
  name = 'Executions1700000000001';
  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE IF NOT EXISTS "workers".executions (
      run_id uuid PRIMARY KEY,
      command_id uuid NOT NULL,
      tool text NOT NULL,
      action jsonb NOT NULL,
      status text NOT NULL CHECK (status IN ('started', 'succeeded', 'failed')),
      attempt integer NOT NULL DEFAULT 1 CHECK (attempt >= 1),
      result jsonb,
      trace_id text NOT NULL,
      worker_id text NOT NULL,
      started_at timestamptz NOT NULL DEFAULT now(),
      finished_at timestamptz,
      CHECK ((status = 'started') = (finished_at IS NULL))
    )`);
    await q.query(
      `CREATE INDEX IF NOT EXISTS executions_started_idx ON "workers".executions (started_at) WHERE status = 'started'`,
    );
    await q.query(`CREATE TABLE IF NOT EXISTS "workers".refusals (
      id bigserial PRIMARY KEY,
      run_id text,
      command_id text,
      role text NOT NULL,
      reason text NOT NULL,
      code text NOT NULL,
      detail text NOT NULL,
      subject text NOT NULL,
      stream_seq bigint NOT NULL,
      at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (subject, stream_seq)
    )`);
    await q.query(`CREATE INDEX IF NOT EXISTS refusals_run_idx ON "workers".refusals (run_id)`);
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE IF EXISTS "workers".refusals');
    await q.query('DROP TABLE IF EXISTS "workers".executions');
  }
}
