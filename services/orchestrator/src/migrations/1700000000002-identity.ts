import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Operators now live in the directory events (`operator_created`/`operator_revoked`, managed by the
 * approvals service) and are authenticated by `@warden/runtime`'s IdentityDirectory, so the
 * orchestrator's own table goes. Timeline rows get a note for events recorded but not acted on.
 */
export class Identity1700000000002 implements MigrationInterface {
  name = 'Identity1700000000002';
  async up(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE IF EXISTS orchestrator.operators');
    await q.query('ALTER TABLE orchestrator.run_events ADD COLUMN note text');
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE orchestrator.run_events DROP COLUMN note');
    await q.query(`CREATE TABLE orchestrator.operators (
      id uuid PRIMARY KEY,
      name text NOT NULL UNIQUE,
      token_hash text NOT NULL UNIQUE,
      roles text[] NOT NULL,
      max_tier int NOT NULL DEFAULT 1,
      created_at timestamptz NOT NULL DEFAULT now(),
      revoked_at timestamptz
    )`);
  }
}
