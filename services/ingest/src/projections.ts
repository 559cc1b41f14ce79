import type { RebuildTarget } from '@warden/runtime';
import { loadConfig, type IngestConfig } from './config';
import { migrations } from './migrations';
import { ingestProjections } from './submission/projections/submission.projection';

/** What `npm run projections:rebuild` needs to rebuild this service's read models. */
export const rebuildTarget: RebuildTarget<IngestConfig> = {
  service: 'ingest',
  schema: 'ingest',
  migrations,
  loadConfig,
  projections: (ctx) => ingestProjections(ctx.ds, ctx.bus, ctx.subjects, ctx.publisher),
};
