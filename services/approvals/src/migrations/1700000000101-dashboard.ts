import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The dashboard's read model of runs: a summary row per run and its timeline (every event, in log order). */
export class Dashboard1700000000101 implements MigrationInterface {
  name = 'Dashboard1700000000101';
  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE approvals.dashboard_runs (
      run_id uuid PRIMARY KEY,
      status text NOT NULL,
      agent jsonb,
      session_id text,
      tool text,
      outcome text,
      tier int,
      approval_id uuid,
      trace_id text NOT NULL,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      last_event text NOT NULL,
      event_count int NOT NULL DEFAULT 0
    )`);
    await q.query('CREATE INDEX dashboard_runs_recent ON approvals.dashboard_runs (updated_at DESC, run_id)');
    await q.query(`CREATE INDEX dashboard_runs_active ON approvals.dashboard_runs (updated_at DESC)
      WHERE status IN ('received', 'awaiting_approval', 'queued', 'running')`);
    await q.query(`CREATE TABLE approvals.dashboard_events (
      run_id uuid NOT NULL,
      seq bigint NOT NULL,
      id uuid NOT NULL,
      type text NOT NULL,
      occurred_at timestamptz NOT NULL,
      envelope jsonb NOT NULL,
      PRIMARY KEY (run_id, seq)
    )`);
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE approvals.dashboard_events');
    await q.query('DROP TABLE approvals.dashboard_runs');
  }
}
