import { z } from 'zod';
import { BaseEnv, parseEnv, port } from '@warden/runtime';

/** The one place ingest reads process.env. */
export const IngestEnv = BaseEnv.extend({
  INGEST_PORT: port(7101),
});
export type IngestConfig = z.infer<typeof IngestEnv>;

export function loadConfig(env: NodeJS.ProcessEnv | Record<string, string | undefined> = process.env): IngestConfig {
  return parseEnv(IngestEnv, env);
}
