import { z } from 'zod';
import { BaseEnv, parseEnv, port } from '@warden/runtime';
import { DEFAULT_PROD_PATH, parseMarkedClasses } from './run/domain/sensitivity';

/** The one place the orchestrator reads process.env. */
export const OrchestratorEnv = BaseEnv.extend({
  ORCHESTRATOR_PORT: port(7103),
  APPROVAL_TTL_SECONDS: z.coerce
    .number()
    .int()
    .positive()
    .default(24 * 3600),
  /** Per-tier approval expiry; unset = APPROVAL_TTL_SECONDS. A decision's `constraints.expires_in_seconds` wins. */
  APPROVAL_TTL_TIER2_SECONDS: z.coerce.number().int().positive().optional(),
  APPROVAL_TTL_TIER3_SECONDS: z.coerce.number().int().positive().optional(),
  PROJECTION_BATCH: z.coerce.number().int().min(1).max(5000).default(500),
  /** Agents named on the agent-behaviour metrics (comma-separated); unset = the first WARDEN_METRICS_AGENT_LIMIT seen. */
  WARDEN_METRICS_AGENTS: z
    .string()
    .optional()
    .transform((v) =>
      (v ?? '')
        .split(',')
        .map((a) => a.trim())
        .filter(Boolean),
    ),
  WARDEN_METRICS_AGENT_LIMIT: z.coerce.number().int().min(1).max(1000).default(50),
  /** Operator-marked sensitive classes: `class=tool|ns.*,class2=…` (see run/domain/sensitivity.ts). */
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
    }),
  /** A resource-naming argument (path, url, environment, branch…) matching this is a production resource. */
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
    }),
  /** Ed25519 seed (32 bytes base64/hex, or PEM) of the audit key: signs the audit chain's checkpoints. */
  WARDEN_AUDIT_KEY: z.string().optional(),
  /** Public keys of earlier audit keys (comma-separated): checkpoints they signed still verify. */
  WARDEN_AUDIT_PUBLIC_KEYS: z.string().optional(),
  /** A signed checkpoint every this many audit records… */
  AUDIT_CHECKPOINT_EVERY: z.coerce.number().int().min(1).max(1_000_000).default(1000),
  /** …or this many seconds after the last one (checked as events arrive). */
  AUDIT_CHECKPOINT_SECONDS: z.coerce.number().int().min(1).max(86_400).default(60),
});
export type OrchestratorConfig = z.infer<typeof OrchestratorEnv>;

export function loadConfig(
  env: NodeJS.ProcessEnv | Record<string, string | undefined> = process.env,
): OrchestratorConfig {
  return parseEnv(OrchestratorEnv, env);
}
