import { z } from 'zod';
import { BaseEnv, parseEnv, port } from '@warden/runtime';

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
});
export type OrchestratorConfig = z.infer<typeof OrchestratorEnv>;

export function loadConfig(
  env: NodeJS.ProcessEnv | Record<string, string | undefined> = process.env,
): OrchestratorConfig {
  return parseEnv(OrchestratorEnv, env);
}
