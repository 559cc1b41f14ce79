import { z } from 'zod';
import { BaseEnv, parseEnv, port } from '@warden/runtime';
import { DEFAULT_PROD_PATH, parseMarkedClasses } from './run/domain/sensitivity';

/** The one place the orchestrator reads process.env. */
export const OrchestratorEnv = BaseEnv.extend({
  ORCHESTRATOR_PORT: port(7103).describe('HTTP port'),
  APPROVAL_TTL_SECONDS: z.coerce
    .number()
    .int()
    .positive()
    .default(24 * 3600)
    .describe(
      "how long an approval request stays open: tier 1, and the other tiers' fallback (a decision's `constraints.expires_in_seconds` wins)",
    ),
  APPROVAL_TTL_TIER2_SECONDS: z.coerce
    .number()
    .int()
    .positive()
    .optional()
    .describe(
      "tier 2 approval expiry; unset: `APPROVAL_TTL_SECONDS` (a decision's `constraints.expires_in_seconds` wins)",
    ),
  APPROVAL_TTL_TIER3_SECONDS: z.coerce
    .number()
    .int()
    .positive()
    .optional()
    .describe(
      "tier 3 approval expiry; unset: `APPROVAL_TTL_SECONDS` (a decision's `constraints.expires_in_seconds` wins)",
    ),
  PROJECTION_BATCH: z.coerce
    .number()
    .int()
    .min(1)
    .max(5000)
    .default(500)
    .describe('most events applied per read-model transaction'),
  WARDEN_METRICS_AGENTS: z
    .string()
    .optional()
    .transform((v) =>
      (v ?? '')
        .split(',')
        .map((a) => a.trim())
        .filter(Boolean),
    )
    .describe(
      'agents named on the agent-behaviour metrics (comma-separated); others are `other`. Unset: the first `WARDEN_METRICS_AGENT_LIMIT` agents seen',
    ),
  WARDEN_METRICS_AGENT_LIMIT: z.coerce
    .number()
    .int()
    .min(1)
    .max(1000)
    .default(50)
    .describe(
      'without `WARDEN_METRICS_AGENTS`: the first N agents seen are named on the agent metrics, the rest `other`',
    ),
  WARDEN_SENSITIVE_TOOLS: z
    .string()
    .optional()
    .transform((v, ctx) => {
      try {
        return parseMarkedClasses(v);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    })
    .describe('sensitive classes an operator marks, `class=tool|ns.*,class2=…` (each alerts on every operation)'),
  WARDEN_PROD_PATH_PATTERN: z
    .string()
    .optional()
    .transform((v, ctx) => {
      try {
        return v ? new RegExp(v, 'i') : DEFAULT_PROD_PATH;
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    })
    .describe(
      'a resource-naming argument (`path`, `url`, `environment`, `branch`, …) matching this regular expression (case-insensitive) is a production resource. Unset: `(^|[/:._-])(prod|production)([/:._-]|$)`',
    ),
  WARDEN_AUDIT_KEY: z
    .string()
    .optional()
    .describe(
      "the audit key's Ed25519 seed (32 bytes base64/hex, or PEM): signs the audit chain's checkpoints. Its own key, never a service's signing key. Required in production; in development derived from `WARDEN_KEYRING_SEED` (label `audit`)",
    ),
  WARDEN_AUDIT_PUBLIC_KEYS: z
    .string()
    .optional()
    .describe(
      'earlier audit public keys (comma-separated) after a rotation: published with the current one, so old checkpoints still verify',
    ),
  AUDIT_CHECKPOINT_EVERY: z.coerce
    .number()
    .int()
    .min(1)
    .max(1_000_000)
    .default(1000)
    .describe('a signed checkpoint every N audit records (every export also starts with a freshly signed head)…'),
  AUDIT_CHECKPOINT_SECONDS: z.coerce
    .number()
    .int()
    .min(1)
    .max(86_400)
    .default(60)
    .describe('…or T seconds after the last one (checked as events arrive)'),
  CLIENT_EXECUTOR_MAX_TIER: z.coerce
    .number()
    .int()
    .min(0)
    .max(3)
    .default(2)
    .describe(
      'bring your own executor: the highest decision tier a client may execute in its own process (`executor: "client"`); 0 refuses every client executor',
    ),
  CLIENT_GRANT_TTL_SECONDS: z.coerce
    .number()
    .int()
    .min(1)
    .max(86_400)
    .default(300)
    .describe(
      "how long a client's execution grant holds; unreported by then, the run ends `failed` with `outcome_unknown`",
    ),
  CLIENT_GRANT_SWEEP_MS: z.coerce
    .number()
    .int()
    .min(100)
    .max(60_000)
    .default(1000)
    .describe('how often each replica looks for execution grants past their deadline (ms)'),
});
export type OrchestratorConfig = z.infer<typeof OrchestratorEnv>;

export function loadConfig(
  env: NodeJS.ProcessEnv | Record<string, string | undefined> = process.env,
): OrchestratorConfig {
  return parseEnv(OrchestratorEnv, env);
}
