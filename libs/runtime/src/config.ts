import { z } from 'zod';
import { PRODUCERS } from '@warden/contracts';
import { loadKeyring, type Keyring } from '@warden/kernel';

/** Env every service reads (CONTRACT §1), with developer-machine defaults. */
export const BaseEnv = z.object({
  NODE_ENV: z.string().default('development'),
  NATS_URL: z.string().min(1).default('nats://127.0.0.1:4222'),
  DATABASE_URL: z.url().default('postgres://postgres@127.0.0.1:5432/warden'),
  REDIS_URL: z.string().min(1).default('redis://127.0.0.1:6379'),
  WARDEN_SUBJECT_PREFIX: z
    .string()
    .regex(/^[a-z][a-z0-9_-]*$/, 'lowercase letters, digits, - and _')
    .default('warden'),
  WARDEN_STREAM_REPLICAS: z.coerce.number().int().min(1).max(5).default(1),
  WARDEN_BOOTSTRAP_ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** This service's own Ed25519 seed (32 bytes, base64/hex, or PEM): signs every event it emits. */
  WARDEN_SIGNING_KEY: z.string().optional(),
  /** Every producer's public key: `ingest=<key>,policy=<key>,…` (repeat a producer during a rotation). */
  WARDEN_PRODUCER_KEYS: z.string().optional(),
  /** Development and tests only: one seed every producer's key is derived from (refused in production). */
  WARDEN_KEYRING_SEED: z.string().optional(),
  WARDEN_WORKSPACE: z.string().default('./var/workspace'),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.string().optional(),
  /** How long a consumer may hold a message before the broker redelivers it (handlers heartbeat). */
  WARDEN_ACK_WAIT_MS: z.coerce.number().int().min(1000).max(600_000).default(30_000),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  /** HTTP bind address of every service (loopback unless set; containers set 0.0.0.0). */
  WARDEN_HOST: z.string().min(1).default('127.0.0.1'),
  /** One service's bind address, over WARDEN_HOST. */
  INGEST_HOST: z.string().min(1).optional(),
  POLICY_HOST: z.string().min(1).optional(),
  ORCHESTRATOR_HOST: z.string().min(1).optional(),
  APPROVALS_HOST: z.string().min(1).optional(),
  WORKERS_HOST: z.string().min(1).optional(),
});
export type BaseEnv = z.infer<typeof BaseEnv>;

/**
 * Parses env with a zod schema; on failure throws one error naming every bad variable.
 * @example const cfg = parseEnv(BaseEnv.extend({ POLICY_PORT: port(7102) }), process.env)
 */
export function parseEnv<S extends z.ZodType>(
  schema: S,
  env: NodeJS.ProcessEnv | Record<string, string | undefined>,
): z.infer<S> {
  const r = schema.safeParse(env);
  if (r.success) return r.data;
  const lines = r.error.issues.map((i) => `  ${i.path.join('.') || '(env)'}: ${i.message}`);
  throw new Error(`invalid configuration:\n${lines.join('\n')}`);
}

/** A TCP port variable with a default. */
export function port(defaultPort: number) {
  return z.coerce.number().int().min(0).max(65535).default(defaultPort);
}

/**
 * The service's {@link Keyring} from its config: its own key (`WARDEN_SIGNING_KEY`) and every
 * producer's public keys (`WARDEN_PRODUCER_KEYS`), or, in development, both derived from
 * `WARDEN_KEYRING_SEED`. Fails fast, naming what is missing: a service without its own key cannot
 * emit an event anyone accepts, and one without a producer's public key refuses all its events.
 * @example const keyring = keyringFromConfig('policy', config)
 */
export function keyringFromConfig(service: string, config: BaseEnv): Keyring {
  let kr: Keyring;
  try {
    kr = loadKeyring(
      {
        self: service,
        signingKey: config.WARDEN_SIGNING_KEY,
        producerKeys: config.WARDEN_PRODUCER_KEYS,
        keyringSeed: config.WARDEN_KEYRING_SEED,
        production: config.NODE_ENV === 'production',
      },
      PRODUCERS,
    );
  } catch (err) {
    throw new Error(`invalid configuration:\n  ${(err as Error).message}`);
  }
  const problems: string[] = [];
  if (!kr.privateKey) {
    problems.push(
      `WARDEN_SIGNING_KEY: is required: ${service} signs every event it emits with its own Ed25519 key (or set WARDEN_KEYRING_SEED in development)`,
    );
  }
  const missing = PRODUCERS.filter((p) => !kr.trusted.get(p)?.length);
  if (missing.length) {
    problems.push(`WARDEN_PRODUCER_KEYS: no public key for ${missing.join(', ')}: their events would all be refused`);
  }
  if (problems.length) throw new Error(`invalid configuration:\n  ${problems.join('\n  ')}`);
  return kr;
}
