import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * When a claimed run's tool really began (null: claimed, waiting for a free slot). A claim whose
 * worker died before `began_at` is handed to another worker instead of ending `outcome_unknown`.
 * Claims from before this column are taken as begun (nothing is known of them).
 */
export class Began1700000000003 implements MigrationInterface {
  name = 'Began1700000000003';
  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE "workers".executions ADD COLUMN IF NOT EXISTS began_at timestamptz');
    await q.query('UPDATE "workers".executions SET began_at = started_at WHERE began_at IS NULL');
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE "workers".executions DROP COLUMN IF EXISTS began_at');
  }
}
