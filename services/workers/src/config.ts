import { hostname } from 'node:os';
import { z } from 'zod';
import { loadSigningKeys, type SigningKeys } from '@warden/kernel';
import { BaseEnv, parseEnv, port } from '@warden/runtime';

const ROLE = /^[a-z][a-z0-9_-]*$/;

/** The one place workers reads process.env. */
export const WorkersEnv = BaseEnv.extend({
  WORKERS_PORT: port(7105),
  /** Roles this process executes for; one durable consumer each. */
  WORKER_ROLES: z
    .string()
    .default('dev,research,outreach')
    .transform((s) => [
      ...new Set(
        s
          .split(',')
          .map((r) => r.trim())
          .filter(Boolean),
      ),
    ])
    .pipe(
      z
        .array(z.string().regex(ROLE, 'each role must be lowercase letters, digits, - or _'))
        .min(1, 'name at least one role'),
    ),
  /** Identifies this process in `run_started` and the executions table. */
  WORKER_ID: z
    .string()
    .min(1)
    .max(200)
    .default(() => `${hostname()}-${process.pid}`),
  /** Tools running at once per batch of commands (a role has up to two batches in flight). */
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(8),
}).superRefine((env, ctx) => {
  if (!env.WARDEN_SIGNING_PUBLIC_KEY && !env.WARDEN_SIGNING_KEY) {
    ctx.addIssue({
      code: 'custom',
      path: ['WARDEN_SIGNING_PUBLIC_KEY'],
      message: 'set WARDEN_SIGNING_PUBLIC_KEY (or WARDEN_SIGNING_KEY): workers refuse every command they cannot verify',
    });
    return;
  }
  for (const [name, seed, pub] of [
    ['WARDEN_SIGNING_KEY', env.WARDEN_SIGNING_KEY, undefined],
    ['WARDEN_SIGNING_PUBLIC_KEY', undefined, env.WARDEN_SIGNING_PUBLIC_KEY],
  ] as const) {
    if (!seed && !pub) continue;
    try {
      loadSigningKeys(seed, pub);
    } catch (err) {
      ctx.addIssue({ code: 'custom', path: [name], message: (err as Error).message });
    }
  }
  if (env.WARDEN_SIGNING_KEY && env.WARDEN_SIGNING_PUBLIC_KEY) {
    try {
      const fromSeed = loadSigningKeys(env.WARDEN_SIGNING_KEY, undefined).publicKey;
      const given = loadSigningKeys(undefined, env.WARDEN_SIGNING_PUBLIC_KEY).publicKey;
      if (!fromSeed.equals(given)) {
        ctx.addIssue({
          code: 'custom',
          path: ['WARDEN_SIGNING_PUBLIC_KEY'],
          message: 'does not match WARDEN_SIGNING_KEY',
        });
      }
    } catch {
      // already reported above
    }
  }
});
export type WorkersConfig = z.infer<typeof WorkersEnv>;

export function loadConfig(env: NodeJS.ProcessEnv | Record<string, string | undefined> = process.env): WorkersConfig {
  return parseEnv(WorkersEnv, env);
}

/** Only the public half: a worker verifies commands and never needs to sign. */
export function verifierKeys(config: WorkersConfig): SigningKeys {
  const keys = config.WARDEN_SIGNING_PUBLIC_KEY
    ? loadSigningKeys(undefined, config.WARDEN_SIGNING_PUBLIC_KEY)
    : loadSigningKeys(config.WARDEN_SIGNING_KEY, undefined);
  return { publicKey: keys.publicKey };
}
