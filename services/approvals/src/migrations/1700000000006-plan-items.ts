import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Plan membership (`approvals.plan_items`): which run is which item of which plan, from each item's
 * `task_received`. The first run named (plan, index) keeps the slot, and a plan belongs to the agent,
 * session and size of its first item: a later run claiming the slot or another agent's plan id stays an
 * ordinary, separately judged run.
 */
export class PlanItems1700000000006 implements MigrationInterface {
  name = 'PlanItems1700000000006';
  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE approvals.plan_items (
      plan_id uuid NOT NULL,
      idx int NOT NULL,
      count int NOT NULL,
      run_id uuid NOT NULL UNIQUE,
      agent_id text NOT NULL,
      agent jsonb NOT NULL,
      session_id text,
      action jsonb NOT NULL,
      action_hash text NOT NULL,
      intent text,
      received_at timestamptz NOT NULL,
      PRIMARY KEY (plan_id, idx)
    )`);
    await q.query('CREATE INDEX plan_items_recent ON approvals.plan_items (received_at DESC)');
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE approvals.plan_items');
  }
}
