import { z } from 'zod';
import { BaseEnv, parseEnv, port } from '@warden/runtime';

const positiveInt = (def: number) => z.coerce.number().int().positive().default(def);

/** The one place ingest reads process.env. */
export const IngestEnv = BaseEnv.extend({
  INGEST_PORT: port(7101).describe('HTTP port'),
  INGEST_RATE_LIMIT_PER_SEC: positiveInt(100).describe(
    'per API key: tokens added per second (one token bucket per key in Redis, shared by every replica)',
  ),
  INGEST_RATE_LIMIT_BURST: positiveInt(200).describe('per API key: bucket size (requests at once)'),
  WARDEN_SECRETS_KEY: z
    .string()
    .optional()
    .describe(
      'AES-256-GCM key (32 bytes, base64 or hex) that encrypts webhook secrets at rest; **required** when `NODE_ENV=production` (`npm start` creates `var/secrets.key`)',
    ),
  WARDEN_SECRETS_KEY_FILE: z
    .string()
    .default('var/secrets.key')
    .describe(
      'outside production, where the development key is created (mode 0600) and read when `WARDEN_SECRETS_KEY` is unset',
    ),
  WEBHOOK_ROTATION_GRACE_SECONDS: z.coerce
    .number()
    .int()
    .nonnegative()
    .default(86_400)
    .describe('how long a rotated-out webhook secret still verifies'),
  API_KEY_ROTATION_GRACE_SECONDS: z.coerce
    .number()
    .int()
    .nonnegative()
    .default(86_400)
    .describe('how long a rotated-out API key still works (unless the request names `grace_seconds`)'),
  MCP_APPROVAL_WAIT_SECONDS: positiveInt(600).describe(
    'MCP gateway: how long a `tools/call` (or `warden.await_run`) waits, e.g. for approval, before answering "still waiting"',
  ),
  WARDEN_DASHBOARD_URL: z
    .string()
    .url()
    .default('http://127.0.0.1:7104/')
    .describe("where people decide approvals: named in the MCP gateway's progress notifications and waiting results"),
  ORCHESTRATOR_URL: z
    .string()
    .url()
    .default('http://127.0.0.1:7103')
    .describe("the orchestrator's REST API: the MCP gateway cancels runs there (`notifications/cancelled`)"),
  MCP_SERVICE_TOKEN: z
    .string()
    .min(1)
    .optional()
    .describe(
      'operator token (role approver) the MCP gateway cancels runs with; unset: the bootstrap admin token; without either, cancellations are logged and ignored',
    ),
});
export type IngestConfig = z.infer<typeof IngestEnv>;

export function loadConfig(env: NodeJS.ProcessEnv | Record<string, string | undefined> = process.env): IngestConfig {
  const config = parseEnv(IngestEnv, env);
  if (config.NODE_ENV === 'production' && !config.WARDEN_SECRETS_KEY)
    throw new Error('invalid configuration:\n  WARDEN_SECRETS_KEY: required in production (32 bytes, base64 or hex)');
  return config;
}
