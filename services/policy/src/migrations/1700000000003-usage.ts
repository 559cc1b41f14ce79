import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What each judged run counted against its session, agent and rate limit, and the state it was
 * judged on: the durable copy of the Redis counters, from which they are rebuilt when Redis comes
 * back empty (see DurablePolicyStateStore). One row per run, written before its decision is published.
 */
export class Usage1700000000003 implements MigrationInterface {
  name = 'Usage1700000000003';
  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE IF NOT EXISTS "policy".usage (
      run_id text PRIMARY KEY,
      session_id text,
      agent_id text NOT NULL,
      tool text NOT NULL,
      tokens bigint NOT NULL,
      micro_usd bigint NOT NULL,
      host text NOT NULL,
      fingerprint text NOT NULL,
      track_agent boolean NOT NULL,
      session_ttl integer NOT NULL,
      agent_ttl integer NOT NULL,
      rate_key text,
      rate_capacity integer,
      rate_per_ms integer,
      snapshot jsonb NOT NULL,
      failed boolean NOT NULL DEFAULT false,
      recorded_at timestamptz NOT NULL DEFAULT now()
    )`);
    await q.query('CREATE INDEX IF NOT EXISTS usage_session_idx ON "policy".usage (session_id, recorded_at)');
    await q.query('CREATE INDEX IF NOT EXISTS usage_agent_idx ON "policy".usage (agent_id, recorded_at)');
    await q.query('CREATE INDEX IF NOT EXISTS usage_recorded_idx ON "policy".usage (recorded_at)');
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE IF EXISTS "policy".usage');
  }
}
