import { z } from 'zod';
import { BaseEnv, parseEnv, port } from '@warden/runtime';

/** The one place approvals reads process.env. */
export const ApprovalsEnv = BaseEnv.extend({
  APPROVALS_PORT: port(7104),
});
export type ApprovalsConfig = z.infer<typeof ApprovalsEnv>;

export function loadConfig(env: NodeJS.ProcessEnv | Record<string, string | undefined> = process.env): ApprovalsConfig {
  return parseEnv(ApprovalsEnv, env);
}
