import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Runs that reached a terminal status by a run event: an approval of an ended run can no longer be voted on. */
export class RunEndings1700000000004 implements MigrationInterface {
  name = 'RunEndings1700000000004';
  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE approvals.run_endings (
      run_id uuid PRIMARY KEY,
      status text NOT NULL,
      reason text,
      occurred_at timestamptz NOT NULL,
      stream_seq bigint NOT NULL
    )`);
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE approvals.run_endings');
  }
}
