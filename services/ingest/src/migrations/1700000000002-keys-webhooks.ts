import type { MigrationInterface, QueryRunner } from 'typeorm';

/** API keys (hash only), webhook sources with their encrypted secrets, and accepted webhook deliveries. */
export class KeysWebhooks1700000000002 implements MigrationInterface {
  name = 'KeysWebhooks1700000000002';
  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE IF NOT EXISTS "ingest".api_keys (
      key_id uuid PRIMARY KEY,
      name text NOT NULL,
      owner text NOT NULL,
      key_hash text NOT NULL UNIQUE,
      created_at timestamptz NOT NULL,
      created_by text NOT NULL,
      last_used_at timestamptz,
      expires_at timestamptz,
      revoked_at timestamptz,
      revoked_by text,
      replaced_by uuid
    )`);
    await q.query(`CREATE TABLE IF NOT EXISTS "ingest".webhook_sources (
      name text PRIMARY KEY,
      created_at timestamptz NOT NULL,
      created_by text NOT NULL
    )`);
    await q.query(`CREATE TABLE IF NOT EXISTS "ingest".webhook_secrets (
      id bigserial PRIMARY KEY,
      source text NOT NULL REFERENCES "ingest".webhook_sources (name) ON DELETE CASCADE,
      secret_enc text NOT NULL,
      created_at timestamptz NOT NULL,
      expires_at timestamptz
    )`);
    await q.query(`CREATE INDEX IF NOT EXISTS webhook_secrets_source ON "ingest".webhook_secrets (source)`);
    await q.query(`CREATE TABLE IF NOT EXISTS "ingest".webhook_deliveries (
      source text NOT NULL,
      webhook_id text NOT NULL,
      run_id uuid NOT NULL,
      received_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (source, webhook_id)
    )`);
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE IF EXISTS "ingest".webhook_deliveries');
    await q.query('DROP TABLE IF EXISTS "ingest".webhook_secrets');
    await q.query('DROP TABLE IF EXISTS "ingest".webhook_sources');
    await q.query('DROP TABLE IF EXISTS "ingest".api_keys');
  }
}
