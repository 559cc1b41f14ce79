import { z } from 'zod';
import { BaseEnv, parseEnv, port } from '@warden/runtime';

/** The one place orchestrator reads process.env. */
export const OrchestratorEnv = BaseEnv.extend({
  ORCHESTRATOR_PORT: port(7103),
});
export type OrchestratorConfig = z.infer<typeof OrchestratorEnv>;

export function loadConfig(env: NodeJS.ProcessEnv | Record<string, string | undefined> = process.env): OrchestratorConfig {
  return parseEnv(OrchestratorEnv, env);
}
