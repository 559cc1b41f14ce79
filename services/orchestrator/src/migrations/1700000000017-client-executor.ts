import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Bring your own executor: who executes a run, and the grant a client-executed run holds. */
export class ClientExecutor1700000000017 implements MigrationInterface {
  name = 'ClientExecutor1700000000017';
  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE orchestrator.runs ADD COLUMN IF NOT EXISTS executor text');
    await q.query('ALTER TABLE orchestrator.runs ADD COLUMN IF NOT EXISTS "grant" jsonb');
    // the grant sweeper's question: which running client runs hold an unreported grant past its deadline
    await q.query(`CREATE INDEX IF NOT EXISTS runs_open_grants ON orchestrator.runs ((("grant"->>'expiresAt')))
      WHERE status = 'running' AND "grant" IS NOT NULL AND ("grant"->>'reportId') IS NULL`);
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX IF EXISTS orchestrator.runs_open_grants');
    await q.query('ALTER TABLE orchestrator.runs DROP COLUMN IF EXISTS "grant"');
    await q.query('ALTER TABLE orchestrator.runs DROP COLUMN IF EXISTS executor');
  }
}
