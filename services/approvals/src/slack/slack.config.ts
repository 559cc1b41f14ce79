import { z } from 'zod';

const optional = z
  .string()
  .optional()
  .transform((v) => (v && v.trim() ? v.trim() : undefined));

/**
 * Slack settings of the approvals service (merged into `ApprovalsEnv`). Slack is off
 * unless `SLACK_BOT_TOKEN` is set; the interaction endpoints answer only when `SLACK_SIGNING_SECRET` is.
 */
export const SlackEnv = z.object({
  SLACK_API_URL: z
    .url()
    .default('https://slack.com/api/')
    .transform((u) => (u.endsWith('/') ? u : `${u}/`))
    .describe('Slack Web API base URL (tests and the benchmark point it at a local fake)'),
  SLACK_BOT_TOKEN: optional.describe(
    'bot token (`xoxb-…`) used for `chat.postMessage` / `chat.update`; unset: Slack is off',
  ),
  SLACK_SIGNING_SECRET: optional.describe('verifies incoming Slack requests; unset: `/slack/*` answer 503'),
  SLACK_APPROVALS_CHANNEL: optional.describe('channel id for approval messages; required with a bot token'),
  SLACK_ESCALATION_CHANNEL: optional.describe(
    'channel id for `approval_escalated` posts; unset: the approvals channel',
  ),
  SLACK_ESCALATION_MENTION: optional.describe('text put before escalation posts, e.g. `<!here>` or `<!subteam^S0123>`'),
  SLACK_CONCURRENCY: z.coerce
    .number()
    .int()
    .min(1)
    .max(64)
    .default(8)
    .describe('Slack Web API calls in flight at once (posting is a durable consumer; this bounds its concurrency)'),
  WARDEN_DASHBOARD_URL: optional.describe(
    'public URL of the dashboard (e.g. `https://warden.example.com/`); if set, Slack messages get an "Open dashboard" link button',
  ),
});
export type SlackEnv = z.infer<typeof SlackEnv>;

/** The Slack part of the config, or undefined when Slack is off. */
export interface SlackSettings {
  apiUrl: string;
  botToken: string;
  signingSecret?: string;
  approvalsChannel: string;
  escalationChannel: string;
  escalationMention?: string;
  concurrency: number;
  dashboardUrl?: string;
}

/** Slack settings from the parsed env; undefined (Slack off) without a bot token. */
export function slackSettings(env: SlackEnv): SlackSettings | undefined {
  if (!env.SLACK_BOT_TOKEN) return undefined;
  if (!env.SLACK_APPROVALS_CHANNEL)
    throw new Error('invalid configuration:\n  SLACK_APPROVALS_CHANNEL: required when SLACK_BOT_TOKEN is set');
  return {
    apiUrl: env.SLACK_API_URL,
    botToken: env.SLACK_BOT_TOKEN,
    signingSecret: env.SLACK_SIGNING_SECRET,
    approvalsChannel: env.SLACK_APPROVALS_CHANNEL,
    escalationChannel: env.SLACK_ESCALATION_CHANNEL ?? env.SLACK_APPROVALS_CHANNEL,
    escalationMention: env.SLACK_ESCALATION_MENTION,
    concurrency: env.SLACK_CONCURRENCY,
    dashboardUrl: env.WARDEN_DASHBOARD_URL,
  };
}
