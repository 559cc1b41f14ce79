import { z } from 'zod';
import { BaseEnv, parseEnv, port } from '@warden/runtime';

const positiveInt = (def: number) => z.coerce.number().int().positive().default(def);

/** The one place ingest reads process.env. */
export const IngestEnv = BaseEnv.extend({
  INGEST_PORT: port(7101),
  /** Token bucket per API key: sustained requests per second… */
  INGEST_RATE_LIMIT_PER_SEC: positiveInt(100),
  /** …and the burst a key may spend at once. */
  INGEST_RATE_LIMIT_BURST: positiveInt(200),
  /** AES-256-GCM key (32 bytes, base64 or hex) that encrypts webhook secrets at rest. */
  WARDEN_SECRETS_KEY: z.string().optional(),
  /** Where the development key is kept when WARDEN_SECRETS_KEY is unset (outside production). */
  WARDEN_SECRETS_KEY_FILE: z.string().default('var/secrets.key'),
  /** How long a rotated-out webhook secret stays valid. */
  WEBHOOK_ROTATION_GRACE_SECONDS: z.coerce.number().int().nonnegative().default(86_400),
  /** How long a rotated-out API key stays valid unless the request names its own grace. */
  API_KEY_ROTATION_GRACE_SECONDS: z.coerce.number().int().nonnegative().default(86_400),
  /** MCP gateway: how long a tools/call waits (e.g. for approval) before answering "still waiting". */
  MCP_APPROVAL_WAIT_SECONDS: positiveInt(600),
  /** Where people decide approvals; named in the MCP gateway's progress notifications. */
  WARDEN_DASHBOARD_URL: z.string().url().default('http://127.0.0.1:7104/'),
  /** The orchestrator's REST API: the MCP gateway cancels runs there (notifications/cancelled). */
  ORCHESTRATOR_URL: z.string().url().default('http://127.0.0.1:7103'),
  /** Operator token (role approver) the MCP gateway cancels with; else the bootstrap admin token. */
  MCP_SERVICE_TOKEN: z.string().min(1).optional(),
});
export type IngestConfig = z.infer<typeof IngestEnv>;

export function loadConfig(env: NodeJS.ProcessEnv | Record<string, string | undefined> = process.env): IngestConfig {
  const config = parseEnv(IngestEnv, env);
  if (config.NODE_ENV === 'production' && !config.WARDEN_SECRETS_KEY)
    throw new Error('invalid configuration:\n  WARDEN_SECRETS_KEY: required in production (32 bytes, base64 or hex)');
  return config;
}
