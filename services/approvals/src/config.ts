import { z } from 'zod';
import { BaseEnv, parseEnv, port } from '@warden/runtime';
import { SlackEnv } from './slack/slack.config';
import { DashboardEnv } from './dashboard/dashboard.config';

/** The one place approvals reads process.env (Slack and dashboard settings live in their own modules). */
export const ApprovalsEnv = BaseEnv.extend({
  APPROVALS_PORT: port(7104).describe('HTTP port (REST, dashboard, Slack)'),
  /** SLACK_* and DASHBOARD_* (schemas in src/slack and src/dashboard). */
  ...SlackEnv.shape,
  ...DashboardEnv.shape,
  APPROVAL_SWEEP_MS: z.coerce
    .number()
    .int()
    .min(50)
    .max(60_000)
    .default(1000)
    .describe('how often the sweeper looks for approvals to expire, escalate or finish granting'),
  APPROVAL_ESCALATION_FRACTION: z.coerce
    .number()
    .gt(0)
    .max(1)
    .default(0.5)
    .describe("fraction of an approval's wait after which `approval_escalated` is emitted (once)"),
  APPROVAL_ESCALATION_NOTIFY: z
    .string()
    .default('escalation')
    .transform((s) =>
      s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean),
    )
    .describe('who the escalation chain notifies: comma-separated names recorded in `approval_escalated.notified`'),
  POLICY_RECHECK_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(50)
    .max(60_000)
    .default(2000)
    .describe("wait for the policy service's re-check of a grant, per attempt"),
  POLICY_RECHECK_ATTEMPTS: z.coerce
    .number()
    .int()
    .min(1)
    .max(20)
    .default(3)
    .describe('attempts within the vote request before leaving the grant to the sweeper (which retries until expiry)'),
});
export type ApprovalsConfig = z.infer<typeof ApprovalsEnv>;

export function loadConfig(env: NodeJS.ProcessEnv | Record<string, string | undefined> = process.env): ApprovalsConfig {
  return parseEnv(ApprovalsEnv, env);
}
