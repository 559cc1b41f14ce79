import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The decisions read model (one row per run). */
export class Decisions1700000000001 implements MigrationInterface {
  name = 'Decisions1700000000001';
  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE IF NOT EXISTS "policy".decisions (
      run_id uuid PRIMARY KEY,
      outcome text NOT NULL CHECK (outcome IN ('allow', 'deny', 'escalate', 'compute')),
      tier smallint NOT NULL CHECK (tier BETWEEN 1 AND 3),
      mode text NOT NULL CHECK (mode IN ('enforce', 'observe')),
      rule_ids text[] NOT NULL,
      reasons jsonb NOT NULL,
      policy_version text NOT NULL,
      policy_digest text NOT NULL,
      input_hash text NOT NULL,
      trace_id text NOT NULL,
      decided_at timestamptz NOT NULL,
      event_id uuid NOT NULL UNIQUE
    )`);
    await q.query('CREATE INDEX IF NOT EXISTS decisions_decided_at_idx ON "policy".decisions (decided_at DESC)');
    await q.query('CREATE INDEX IF NOT EXISTS decisions_input_hash_idx ON "policy".decisions (input_hash)');
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE IF EXISTS "policy".decisions');
  }
}
