import { z } from 'zod';
import { RunStatus } from '@warden/contracts';

/** A run as the dashboard lists it (`approvals.dashboard_runs`, the `DashboardRun` row). */
export const DashboardRunResponse = z.object({
  run_id: z.uuid(),
  status: RunStatus,
  agent: z.object({ id: z.string(), role: z.string() }).nullable(),
  session_id: z.string().nullable(),
  tool: z.string().nullable(),
  outcome: z.string().nullable(),
  tier: z.number().int().nullable(),
  approval_id: z.string().nullable(),
  trace_id: z.string(),
  created_at: z.iso.datetime(),
  updated_at: z.iso.datetime(),
  last_event: z.string(),
  event_count: z.number().int(),
});

export const DashboardRunsResponse = z.object({ runs: z.array(DashboardRunResponse) });

export const DashboardRunDetailResponse = z.object({
  run: DashboardRunResponse,
  events: z.array(z.object({}).loose().describe('event envelope (CONTRACT §2), in log order')),
});

export const DashboardMeResponse = z.object({
  id: z.string(),
  name: z.string(),
  roles: z.array(z.string()),
  max_tier: z.number().int(),
});
