import { BaseEnv, parseEnv, type RebuildTarget } from '@warden/runtime';
import { migrations } from './migrations';
import { policyProjections } from './decision/projections/projections';

/** What `npm run projections:rebuild` needs to rebuild this service's read models. */
export const rebuildTarget: RebuildTarget = {
  service: 'policy',
  schema: 'policy',
  migrations,
  // read models need neither the signing key nor the bundle, so rebuilding does not ask for them
  loadConfig: (env) => parseEnv(BaseEnv, env),
  projections: (ctx) => policyProjections(ctx.ds, ctx.bus, ctx.subjects, ctx.publisher),
};
