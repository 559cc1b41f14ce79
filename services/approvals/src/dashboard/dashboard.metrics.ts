import { Gauge } from 'prom-client';
import { registry } from '@warden/observability';

/** Dashboard metrics. */
export const dashboardMetrics = {
  sseClients:
    (registry.getSingleMetric('warden_dashboard_sse_clients') as Gauge) ??
    new Gauge({
      name: 'warden_dashboard_sse_clients',
      help: 'Browsers following the live event stream',
      registers: [registry],
    }),
};
