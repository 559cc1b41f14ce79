import { z } from 'zod';
import { BaseEnv, parseEnv, port } from '@warden/runtime';

/** The one place workers reads process.env. */
export const WorkersEnv = BaseEnv.extend({
  WORKERS_PORT: port(7105),
});
export type WorkersConfig = z.infer<typeof WorkersEnv>;

export function loadConfig(env: NodeJS.ProcessEnv | Record<string, string | undefined> = process.env): WorkersConfig {
  return parseEnv(WorkersEnv, env);
}
