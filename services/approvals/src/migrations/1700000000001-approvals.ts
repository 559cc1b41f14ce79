import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Approvals1700000000001 implements MigrationInterface {
  name = 'Approvals1700000000001';
  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE approvals.approvals (
      id uuid PRIMARY KEY,
      run_id uuid NOT NULL,
      tier int NOT NULL,
      status text NOT NULL,
      required_votes int NOT NULL,
      agent jsonb NOT NULL,
      session_id text,
      action jsonb NOT NULL,
      decision jsonb NOT NULL,
      trace_id text NOT NULL,
      expires_at timestamptz NOT NULL,
      requested_at timestamptz NOT NULL,
      closed_at timestamptz,
      operators text[] NOT NULL DEFAULT '{}'
    )`);
    await q.query('CREATE INDEX approvals_by_status ON approvals.approvals (status, expires_at)');
    await q.query('CREATE INDEX approvals_by_run ON approvals.approvals (run_id)');
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE approvals.approvals');
  }
}
