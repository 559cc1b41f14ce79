import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Bundles by digest, their activations, and every evaluated input (replay, what-if). */
export class Bundles1700000000002 implements MigrationInterface {
  name = 'Bundles1700000000002';
  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE IF NOT EXISTS "policy".bundles (
      digest text PRIMARY KEY CHECK (digest ~ '^sha256:[0-9a-f]{64}$'),
      version text NOT NULL,
      source text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      created_by text NOT NULL
    )`);
    await q.query(`CREATE TABLE IF NOT EXISTS "policy".activations (
      id bigserial PRIMARY KEY,
      digest text NOT NULL REFERENCES "policy".bundles (digest),
      activated_at timestamptz NOT NULL DEFAULT now(),
      activated_by text NOT NULL
    )`);
    await q.query(`CREATE TABLE IF NOT EXISTS "policy".decision_inputs (
      input_hash text PRIMARY KEY,
      input jsonb NOT NULL,
      recorded_at timestamptz NOT NULL DEFAULT now()
    )`);
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE IF EXISTS "policy".decision_inputs');
    await q.query('DROP TABLE IF EXISTS "policy".activations');
    await q.query('DROP TABLE IF EXISTS "policy".bundles');
  }
}
