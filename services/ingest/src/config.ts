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
});
export type IngestConfig = z.infer<typeof IngestEnv>;

export function loadConfig(env: NodeJS.ProcessEnv | Record<string, string | undefined> = process.env): IngestConfig {
  const config = parseEnv(IngestEnv, env);
  if (config.NODE_ENV === 'production' && !config.WARDEN_SECRETS_KEY)
    throw new Error('invalid configuration:\n  WARDEN_SECRETS_KEY: required in production (32 bytes, base64 or hex)');
  return config;
}
