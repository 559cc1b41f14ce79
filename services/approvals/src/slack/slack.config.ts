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
    .transform((u) => (u.endsWith('/') ? u : `${u}/`)),
  SLACK_BOT_TOKEN: optional,
  SLACK_SIGNING_SECRET: optional,
  SLACK_APPROVALS_CHANNEL: optional,
  /** Where `approval_escalated` is posted; default: the approvals channel. */
  SLACK_ESCALATION_CHANNEL: optional,
  /** Prepended to escalation posts, e.g. `<!here>` or `<!subteam^S0123>`. */
  SLACK_ESCALATION_MENTION: optional,
  /** Slack Web API calls running at once (posting is a durable consumer; this bounds its concurrency). */
  SLACK_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(8),
  /** Public URL of the dashboard, linked from Slack messages (e.g. `https://warden.example.com/`). */
  WARDEN_DASHBOARD_URL: optional,
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
