import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** One registry per process; every metric Warden records lives here. */
export const registry = new Registry();
let defaultsStarted = false;

/** Starts Node's default metrics, labelled with the service name. Idempotent. */
export function initMetrics(service: string): void {
  if (defaultsStarted) return;
  defaultsStarted = true;
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
}

function counter(name: string, help: string, labelNames: string[]): Counter {
  return (registry.getSingleMetric(name) as Counter) ?? new Counter({ name, help, labelNames, registers: [registry] });
}
function histogram(name: string, help: string, labelNames: string[], buckets: number[]): Histogram {
  return (
    (registry.getSingleMetric(name) as Histogram) ??
    new Histogram({ name, help, labelNames, buckets, registers: [registry] })
  );
}

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Bus metrics. Labels are bounded: consumer names and a fixed set of outcomes/codes. */
export const busMetrics = {
  messages: counter('warden_bus_messages_total', 'Messages settled by a consumer', ['consumer', 'outcome']),
  deadLetters: counter('warden_bus_dead_letters_total', 'Messages copied to a dead-letter subject', [
    'consumer',
    'reason',
  ]),
  handleSeconds: histogram('warden_bus_handle_seconds', 'Handler time per message', ['consumer'], LATENCY_BUCKETS),
  batchSeconds: histogram('warden_bus_batch_seconds', 'Handler time per batch', ['consumer'], LATENCY_BUCKETS),
  batchSize: histogram(
    'warden_bus_batch_size',
    'Messages per batch',
    ['consumer'],
    [1, 2, 5, 10, 25, 50, 100, 250, 500],
  ),
  published: counter('warden_bus_published_total', 'Messages published', ['kind']),
  projectionBatches: histogram(
    'warden_projection_batch_seconds',
    'Time to apply and commit one projection batch',
    ['projection'],
    LATENCY_BUCKETS,
  ),
  projectionEvents: counter('warden_projection_events_total', 'Events applied by a projection', ['projection']),
};

/** HTTP metrics for every service. */
export const httpMetrics = {
  requests: counter('warden_http_requests_total', 'HTTP requests', ['method', 'route', 'status']),
};
