import type { Provider } from '@nestjs/common';
import { UPSTREAM_CATALOG, type UpstreamCatalog } from '../mcp/domain/upstream-catalog';
import { KvUpstreamCatalog } from './kv-upstream-catalog';

/**
 * The gateway's {@link UPSTREAM_CATALOG}: the {@link KvUpstreamCatalog} of the upstream MCP servers the
 * workers hold (signed catalog and pins in KV; `kvUpstreamCatalogProvider` makes it, and the same
 * instance serves `GET /v1/mcp/tools` and re-pins).
 */
export const upstreamCatalogProvider: Provider = { provide: UPSTREAM_CATALOG, useExisting: KvUpstreamCatalog };

// the catalog is the gateway's UpstreamCatalog (checked here, where both are known)
export const kvCatalogIsUpstreamCatalog = (c: KvUpstreamCatalog): UpstreamCatalog => c;
