import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Slack state: one row per approval (what its messages must show) and one per posted message
 * (channel + ts), so a redelivered `approval_requested` never posts twice and every message is
 * updated once the approval closes.
 */
export class Slack1700000000100 implements MigrationInterface {
  name = 'Slack1700000000100';
  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE approvals.slack_approvals (
      approval_id uuid PRIMARY KEY,
      card jsonb,
      closed_status text,
      closed_by text[] NOT NULL DEFAULT '{}',
      closed_reason text,
      closed_at timestamptz,
      updated_at timestamptz NOT NULL DEFAULT now()
    )`);
    await q.query(`CREATE TABLE approvals.slack_messages (
      approval_id uuid NOT NULL,
      kind text NOT NULL,
      channel text NOT NULL,
      ts text,
      claimed_at timestamptz,
      posted_at timestamptz,
      rendered text,
      PRIMARY KEY (approval_id, kind)
    )`);
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE approvals.slack_messages');
    await q.query('DROP TABLE approvals.slack_approvals');
  }
}
