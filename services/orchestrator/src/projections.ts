import { loadConfig, type OrchestratorConfig } from './config';
import { migrations } from './migrations';
import { orchestratorProjections } from './run/projections/projections';
import type { RebuildTarget } from '@warden/runtime';

/** What `npm run projections:rebuild` needs to rebuild this service's read models. */
export const rebuildTarget: RebuildTarget<OrchestratorConfig> = {
  service: 'orchestrator',
  schema: 'orchestrator',
  migrations,
  loadConfig,
  projections: (ctx) => orchestratorProjections(ctx.ds, ctx.bus, ctx.subjects, ctx.publisher, ctx.config, ctx.keyring),
};
