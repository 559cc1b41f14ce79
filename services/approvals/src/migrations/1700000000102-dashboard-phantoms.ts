import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Removes runs the dashboard never saw `task_received` for: earlier versions opened a run row for any
 * event (e.g. a command refused as forged for an unknown run), which stayed "received" and active for
 * ever. The projection no longer creates them.
 */
export class DashboardPhantoms1700000000102 implements MigrationInterface {
  name = 'DashboardPhantoms1700000000102';
  async up(q: QueryRunner): Promise<void> {
    await q.query(`DELETE FROM approvals.dashboard_runs r WHERE NOT EXISTS (
      SELECT 1 FROM approvals.dashboard_events e WHERE e.run_id = r.run_id AND e.type = 'task_received')`);
    await q.query(`DELETE FROM approvals.dashboard_events e WHERE NOT EXISTS (
      SELECT 1 FROM approvals.dashboard_runs r WHERE r.run_id = e.run_id)`);
  }
  async down(): Promise<void> {
    // nothing to restore: the rows were never a run
  }
}
