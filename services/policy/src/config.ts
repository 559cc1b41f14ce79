import { z } from 'zod';
import { BaseEnv, parseEnv, port } from '@warden/runtime';

/** The one place policy reads process.env. */
export const PolicyEnv = BaseEnv.extend({
  POLICY_PORT: port(7102),
});
export type PolicyConfig = z.infer<typeof PolicyEnv>;

export function loadConfig(env: NodeJS.ProcessEnv | Record<string, string | undefined> = process.env): PolicyConfig {
  return parseEnv(PolicyEnv, env);
}
