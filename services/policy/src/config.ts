import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { BaseEnv, parseEnv, port } from '@warden/runtime';

/** Where the shipped bundle lives, relative to the repository root. */
const DEFAULT_POLICY_FILE = 'deploy/policies/default.yaml';

/** The one place policy reads process.env. */
export const PolicyEnv = BaseEnv.extend({
  POLICY_PORT: port(7102).describe('HTTP port'),
  WARDEN_POLICY_FILE: z
    .string()
    .min(1)
    .optional()
    .describe(
      'the seed bundle, activated at start when the KV bucket names none or when its content was never stored (a deploy shipping a new file); relative paths resolve against the working directory. Unset: the shipped `deploy/policies/default.yaml`',
    ),
}).transform((env) => ({ ...env, WARDEN_POLICY_FILE: resolvePolicyFile(env.WARDEN_POLICY_FILE) }));
export type PolicyConfig = z.infer<typeof PolicyEnv>;

export function loadConfig(env: NodeJS.ProcessEnv | Record<string, string | undefined> = process.env): PolicyConfig {
  return parseEnv(PolicyEnv, env);
}

/**
 * The bundle path: the explicit one, else the shipped bundle under the working directory, else the
 * one next to this package (src/ and dist/ sit at the same depth), so it starts from any directory.
 */
export function resolvePolicyFile(explicit: string | undefined, cwd = process.cwd()): string {
  if (explicit) return resolve(cwd, explicit);
  const candidates = [resolve(cwd, DEFAULT_POLICY_FILE), resolve(__dirname, '../../..', DEFAULT_POLICY_FILE)];
  return candidates.find((c) => existsSync(c)) ?? candidates[0]!;
}
