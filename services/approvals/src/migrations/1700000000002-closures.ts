import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Requests and closures are projected by separate consumers (one per event type: NATS 2.9 has no
 * multi-filter consumers, and reading every run event costs more than everything else here), so the
 * inbox is the join of two order-independent tables.
 */
export class Closures1700000000002 implements MigrationInterface {
  name = 'Closures1700000000002';
  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE approvals.approval_closures (
      id uuid PRIMARY KEY,
      status text NOT NULL,
      closed_at timestamptz NOT NULL,
      operators text[] NOT NULL,
      stream_seq bigint NOT NULL
    )`);
    await q.query(`INSERT INTO approvals.approval_closures (id, status, closed_at, operators, stream_seq)
      SELECT id, status, closed_at, operators, 0 FROM approvals.approvals WHERE status <> 'pending'`);
    await q.query('DROP INDEX IF EXISTS approvals.approvals_by_status');
    await q.query('ALTER TABLE approvals.approvals DROP COLUMN status, DROP COLUMN closed_at, DROP COLUMN operators');
    await q.query('CREATE INDEX approvals_by_expiry ON approvals.approvals (expires_at)');
    await q.query(`CREATE VIEW approvals.inbox AS
      SELECT a.*, COALESCE(c.status, 'pending') AS status, c.closed_at, COALESCE(c.operators, '{}') AS operators
      FROM approvals.approvals a LEFT JOIN approvals.approval_closures c USING (id)`);
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP VIEW approvals.inbox');
    await q.query(`ALTER TABLE approvals.approvals ADD COLUMN status text NOT NULL DEFAULT 'pending',
      ADD COLUMN closed_at timestamptz, ADD COLUMN operators text[] NOT NULL DEFAULT '{}'`);
    await q.query(`UPDATE approvals.approvals a SET status = c.status, closed_at = c.closed_at, operators = c.operators
      FROM approvals.approval_closures c WHERE c.id = a.id`);
    await q.query('DROP TABLE approvals.approval_closures');
  }
}
