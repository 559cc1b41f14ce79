import { z } from 'zod';
import { PRODUCERS } from '@warden/contracts';
import { loadKeyring, type Keyring } from '@warden/kernel';

/** Env every service reads (CONTRACT §1), with developer-machine defaults. */
export const BaseEnv = z.object({
  NODE_ENV: z
    .string()
    .default('development')
    .describe(
      '`production` turns on the production rules: `WARDEN_KEYRING_SEED` is refused, ingest requires `WARDEN_SECRETS_KEY` and the orchestrator `WARDEN_AUDIT_KEY`, and a root worker that cannot switch to the sandbox user refuses to start',
    ),
  NATS_URL: z
    .string()
    .min(1)
    .default('nats://127.0.0.1:4222')
    .describe('NATS servers, comma-separated (list every node of a cluster)'),
  DATABASE_URL: z
    .url()
    .default('postgres://postgres@127.0.0.1:5432/warden')
    .describe('Postgres; the database is created if missing, each service migrates its own schema'),
  DATABASE_PREPARED_STATEMENTS: envFlag(true).describe(
    'send repeated parameterized statements as named (prepared) statements: Postgres parses and plans them once per connection. `false` behind a pooler that cannot keep them (PgBouncer in transaction mode before 1.21, or without `max_prepared_statements`)',
  ),
  REDIS_URL: z
    .string()
    .min(1)
    .default('redis://127.0.0.1:6379')
    .describe(
      'Redis: policy budgets, rate limits and history; ingest per-key rate limits and webhook replay memory; the approvals sweeper lease (the orchestrator and workers do not use it)',
    ),
  WARDEN_SUBJECT_PREFIX: z
    .string()
    .regex(/^[a-z][a-z0-9_-]*$/, 'lowercase letters, digits, - and _')
    .default('warden')
    .describe('prefix of every subject, stream and consumer (`acme` → `acme.events.…`, stream `ACME_EVENTS`)'),
  WARDEN_STREAM_REPLICAS: z.coerce
    .number()
    .int()
    .min(1)
    .max(5)
    .default(1)
    .describe('JetStream replicas per stream and KV bucket (3 in production)'),
  WARDEN_BOOTSTRAP_ADMIN_TOKEN: z
    .string()
    .min(16, 'must be at least 16 characters')
    .optional()
    .describe(
      'operator token with the admin role, at least 16 characters, for the first start: create real operators with it, then unset it. Unset: no bootstrap admin',
    ),
  WARDEN_SIGNING_KEY: z
    .string()
    .optional()
    .describe(
      "this service's own Ed25519 seed (32 bytes base64/hex, or PEM): signs every event it emits (and, for the orchestrator, every worker command). Required; in development derived from `WARDEN_KEYRING_SEED`. Never give one service's key to another",
    ),
  WARDEN_PRODUCER_KEYS: z
    .string()
    .optional()
    .describe(
      "every producer's public key, `ingest=<key>,policy=<key>,orchestrator=<key>,approvals=<key>,workers=<key>`; list a producer twice while its key rotates. Required; in development derived from `WARDEN_KEYRING_SEED`",
    ),
  WARDEN_KEYRING_SEED: z
    .string()
    .optional()
    .describe(
      "development and tests only: one seed every service derives its own key and the others' public keys from (HKDF); `npm start` uses `var/signing.key`. Refused when `NODE_ENV=production`",
    ),
  WARDEN_WORKSPACE: z
    .string()
    .default('./var/workspace')
    .describe(
      'root of every `fs.*` path of the workers; policy only reads it (mount it read-only) to resolve symlinks before judging a path',
    ),
  OTEL_EXPORTER_OTLP_ENDPOINT: z
    .string()
    .optional()
    .describe('OTLP trace export; unset means no export (trace context still propagates)'),
  WARDEN_ACK_WAIT_MS: z.coerce
    .number()
    .int()
    .min(1000)
    .max(600_000)
    .default(30_000)
    .describe('time a consumer may hold a message before the broker redelivers it (handlers heartbeat)'),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info').describe('least severe level logged'),
  WARDEN_HOST: z
    .string()
    .min(1)
    .default('127.0.0.1')
    .describe(
      'HTTP bind address of every service (loopback unless set; `docker-compose.yml` and the Kubernetes manifests set `0.0.0.0`). Replaces `HOST` (often set by shells to the machine name), which is no longer read',
    ),
  INGEST_HOST: z.string().min(1).optional().describe("ingest's bind address, over `WARDEN_HOST`"),
  POLICY_HOST: z.string().min(1).optional().describe("policy's bind address, over `WARDEN_HOST`"),
  ORCHESTRATOR_HOST: z.string().min(1).optional().describe("the orchestrator's bind address, over `WARDEN_HOST`"),
  APPROVALS_HOST: z.string().min(1).optional().describe("approvals' bind address, over `WARDEN_HOST`"),
  WORKERS_HOST: z.string().min(1).optional().describe("the workers' bind address, over `WARDEN_HOST`"),
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

/**
 * A yes/no setting: `true`/`1` or `false`/`0`, anything else refused.
 * @example DASHBOARD_RUNS: envFlag(true).describe('…')
 */
export function envFlag(defaultValue: boolean) {
  return z
    .enum(['true', 'false', '1', '0'])
    .default(defaultValue ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1');
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
