import { z } from 'zod';
import { envFlag } from '@warden/runtime';

/** Dashboard settings of the approvals service (merged into `ApprovalsEnv`). */
export const DashboardEnv = z.object({
  DASHBOARD_RUNS: envFlag(true).describe(
    "project run events into `approvals.dashboard_*` for the dashboard's run list and timelines; `false`: the runs panel stays empty (e.g. on extra replicas)",
  ),
  DASHBOARD_RETENTION_HOURS: z.coerce
    .number()
    .int()
    .min(1)
    .default(168)
    .describe("finished runs older than this leave the dashboard's read model (the event log keeps them)"),
});
export type DashboardEnv = z.infer<typeof DashboardEnv>;

export const DASHBOARD_CONFIG = Symbol('DASHBOARD_CONFIG');
