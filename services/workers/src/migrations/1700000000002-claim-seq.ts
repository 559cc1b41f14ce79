import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The stream sequence of the command message that claimed a run: any other message for it is a replay. */
export class ClaimSeq1700000000002 implements MigrationInterface {
  name = 'ClaimSeq1700000000002';
  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE "workers".executions ADD COLUMN IF NOT EXISTS stream_seq bigint');
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE "workers".executions DROP COLUMN IF EXISTS stream_seq');
  }
}
