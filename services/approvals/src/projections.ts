import { approvalsProjections } from './approval/projections/approval.projection';
import { dashboardProjections } from './dashboard/projections/dashboard-runs.projection';
import { loadConfig, type ApprovalsConfig } from './config';
import { migrations } from './migrations';
import type { RebuildTarget } from '@warden/runtime';

/** What `npm run projections:rebuild` needs to rebuild this service's read models. */
export const rebuildTarget: RebuildTarget<ApprovalsConfig> = {
  service: 'approvals',
  schema: 'approvals',
  migrations,
  loadConfig,
  projections: (ctx) => [
    ...approvalsProjections(ctx.ds, ctx.bus, ctx.subjects, ctx.publisher),
    ...dashboardProjections(ctx.ds, ctx.bus, ctx.subjects, ctx.publisher, ctx.config.DASHBOARD_RUNS),
  ],
};
