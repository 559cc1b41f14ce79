import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Voting, expiry, operators, reviews.
 * - `approval_state` is the write model's concurrency token (`version`, bumped by every vote and closure:
 *   optimistic concurrency) plus sweeper bookkeeping; it is not a read model and is never rebuilt.
 * - `votes`, `operators`, `reviews`, `review_resolutions` are read models of events (rebuildable).
 */
export class Votes1700000000003 implements MigrationInterface {
  name = 'Votes1700000000003';
  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE approvals.approval_state (
      id uuid PRIMARY KEY,
      version int NOT NULL DEFAULT 0,
      escalated_at timestamptz
    )`);
    await q.query(`CREATE TABLE approvals.votes (
      approval_id uuid NOT NULL,
      operator_id text NOT NULL,
      operator text NOT NULL,
      vote text NOT NULL CHECK (vote IN ('approve', 'reject')),
      comment text,
      channel text,
      standing jsonb,
      at timestamptz NOT NULL,
      event_id uuid NOT NULL,
      PRIMARY KEY (approval_id, operator_id)
    )`);
    await q.query(`CREATE TABLE approvals.operators (
      id uuid PRIMARY KEY,
      name text NOT NULL,
      roles text[] NOT NULL,
      max_tier int NOT NULL,
      slack_user_id text,
      created_at timestamptz NOT NULL,
      created_by text NOT NULL,
      revoked_at timestamptz,
      revoked_by text
    )`);
    await q.query(`CREATE TABLE approvals.reviews (
      id uuid PRIMARY KEY,
      run_id uuid NOT NULL,
      agent jsonb,
      session_id text,
      action jsonb NOT NULL,
      result jsonb NOT NULL,
      outcome text,
      rule_ids text[] NOT NULL DEFAULT '{}',
      trace_id text NOT NULL,
      requested_at timestamptz NOT NULL
    )`);
    await q.query('CREATE INDEX reviews_newest ON approvals.reviews (requested_at DESC, id DESC)');
    await q.query(`CREATE TABLE approvals.review_resolutions (
      id uuid PRIMARY KEY,
      verdict text NOT NULL,
      operator text NOT NULL,
      comment text,
      compensation_run_id uuid,
      compensation_action jsonb,
      resolved_at timestamptz NOT NULL
    )`);
    await q.query('CREATE INDEX approvals_newest ON approvals.approvals (requested_at DESC, id DESC)');
    await q.query('ALTER TABLE approvals.approval_closures ADD COLUMN reason text');
    await q.query('DROP VIEW approvals.inbox');
    await q.query(`CREATE VIEW approvals.inbox AS
      SELECT a.*, COALESCE(c.status, 'pending') AS status, c.closed_at, COALESCE(c.operators, '{}') AS operators,
        c.reason AS closed_reason
      FROM approvals.approvals a LEFT JOIN approvals.approval_closures c USING (id)`);
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP VIEW approvals.inbox');
    await q.query(`CREATE VIEW approvals.inbox AS
      SELECT a.*, COALESCE(c.status, 'pending') AS status, c.closed_at, COALESCE(c.operators, '{}') AS operators
      FROM approvals.approvals a LEFT JOIN approvals.approval_closures c USING (id)`);
    await q.query('ALTER TABLE approvals.approval_closures DROP COLUMN reason');
    await q.query('DROP INDEX approvals.approvals_newest');
    await q.query('DROP TABLE approvals.review_resolutions');
    await q.query('DROP TABLE approvals.reviews');
    await q.query('DROP TABLE approvals.operators');
    await q.query('DROP TABLE approvals.votes');
    await q.query('DROP TABLE approvals.approval_state');
  }
}
