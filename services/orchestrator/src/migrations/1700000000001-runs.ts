import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Runs1700000000001 implements MigrationInterface {
  name = 'Runs1700000000001';
  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE orchestrator.runs (
      run_id uuid PRIMARY KEY,
      status text NOT NULL,
      agent_id text NOT NULL,
      agent_role text NOT NULL,
      session_id text,
      action jsonb NOT NULL,
      decision jsonb,
      decision_event_id uuid,
      approval jsonb,
      result jsonb,
      trace_id text NOT NULL,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      last_seq bigint NOT NULL
    )`);
    await q.query('CREATE INDEX runs_newest ON orchestrator.runs (created_at DESC, run_id DESC)');
    await q.query('CREATE INDEX runs_status ON orchestrator.runs (status, created_at DESC, run_id DESC)');
    await q.query('CREATE INDEX runs_agent ON orchestrator.runs (agent_id, created_at DESC, run_id DESC)');
    await q.query('CREATE INDEX runs_session ON orchestrator.runs (session_id, created_at DESC, run_id DESC)');
    await q.query(`CREATE TABLE orchestrator.run_events (
      id uuid PRIMARY KEY,
      run_id uuid NOT NULL,
      seq bigint NOT NULL,
      type text NOT NULL,
      occurred_at timestamptz NOT NULL,
      envelope jsonb NOT NULL
    )`);
    await q.query('CREATE INDEX run_events_by_run ON orchestrator.run_events (run_id, seq)');
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
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE orchestrator.operators');
    await q.query('DROP TABLE orchestrator.run_events');
    await q.query('DROP TABLE orchestrator.runs');
  }
}
