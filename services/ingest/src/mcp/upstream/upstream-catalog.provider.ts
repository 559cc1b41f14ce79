import type { Provider } from '@nestjs/common';
import { NoUpstreamCatalog, UPSTREAM_CATALOG } from '../upstream-catalog';

/**
 * The gateway's {@link UPSTREAM_CATALOG}: where the upstream MCP proxy plugs in (replace `useClass`
 * with the catalog of the configured servers). Until then: no upstream tools.
 */
export const upstreamCatalogProvider: Provider = { provide: UPSTREAM_CATALOG, useClass: NoUpstreamCatalog };
