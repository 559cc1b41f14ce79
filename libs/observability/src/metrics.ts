import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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

function gauge(name: string, help: string, labelNames: string[], collect?: (g: Gauge) => Promise<void>): Gauge {
  return (
    (registry.getSingleMetric(name) as Gauge) ??
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      ...(collect
        ? {
            async collect(this: Gauge) {
              await collect(this);
            },
          }
        : {}),
    })
  );
}

/** A durable consumer's position, read from the broker when Prometheus scrapes. */
export interface ConsumerLag {
  consumer: string;
  /** Messages not yet delivered. */
  pending: number;
  /** Delivered, not yet acked. */
  ackPending: number;
  /** Delivered more than once and not yet acked. */
  redelivered: number;
}

const lagSources = new Set<() => Promise<ConsumerLag>>();
let lagAt = 0;
let lagSnapshot: Promise<ConsumerLag[]> | undefined;

/** Reads every registered consumer at most once per scrape (the three lag gauges share it), 2 s at most each. */
function readLag(): Promise<ConsumerLag[]> {
  if (lagSnapshot && Date.now() - lagAt < 1000) return lagSnapshot;
  lagAt = Date.now();
  lagSnapshot = Promise.all(
    [...lagSources].map((read) =>
      Promise.race([
        read().catch(() => undefined),
        new Promise<undefined>((ok) => setTimeout(() => ok(undefined), 2000).unref()),
      ]),
    ),
  ).then((all) => all.filter((l): l is ConsumerLag => l !== undefined));
  return lagSnapshot;
}

/**
 * Registers a consumer whose lag `/metrics` reports (`warden_bus_consumer_pending{consumer}` …);
 * returns the function that unregisters it.
 * @example const off = registerLagSource(async () => ({ consumer, pending, ackPending, redelivered }));
 */
export function registerLagSource(read: () => Promise<ConsumerLag>): () => void {
  lagSources.add(read);
  return () => lagSources.delete(read);
}

function lagGauge(name: string, help: string, pick: (l: ConsumerLag) => number): Gauge {
  return gauge(name, help, ['consumer'], async (g) => {
    const lags = await readLag();
    g.reset();
    for (const l of lags) g.set({ consumer: l.consumer }, pick(l));
  });
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
  redeliveries: counter('warden_bus_redeliveries_total', 'Deliveries after the first, per durable consumer', [
    'consumer',
  ]),
  consumerPending: lagGauge(
    'warden_bus_consumer_pending',
    'Messages on the stream a durable consumer has not been delivered yet (its lag)',
    (l) => l.pending,
  ),
  consumerAckPending: lagGauge(
    'warden_bus_consumer_ack_pending',
    'Messages delivered to a durable consumer and not acked yet',
    (l) => l.ackPending,
  ),
  consumerRedelivered: lagGauge(
    'warden_bus_consumer_redelivered',
    'Messages a durable consumer holds that were delivered more than once',
    (l) => l.redelivered,
  ),
  projectionLag: gauge(
    'warden_projection_lag_events',
    'Events on the stream after the last one a projection was handed (0 when caught up)',
    ['projection'],
  ),
};

/** HTTP metrics for every service. */
export const httpMetrics = {
  requests: counter('warden_http_requests_total', 'HTTP requests', ['method', 'route', 'status']),
};

/**
 * Keeps a label's value set bounded: an allow-list when given, else the first `limit` values seen by
 * this process; everything else is `other`.
 * @example const agents = new BoundedLabel({ limit: 50 }); counter.inc({ agent: agents.of(id) });
 */
export class BoundedLabel {
  private readonly seen = new Set<string>();
  private readonly allow?: ReadonlySet<string>;
  private readonly limit: number;

  constructor(opts: { allow?: readonly string[]; limit?: number } = {}) {
    this.allow = opts.allow?.length ? new Set(opts.allow) : undefined;
    this.limit = opts.limit ?? 50;
  }

  /** The label value for `value`: itself when allowed or within the cap, else `other`. */
  of(value: string | undefined): string {
    if (!value) return 'unknown';
    if (this.allow) return this.allow.has(value) ? value : 'other';
    if (this.seen.has(value)) return value;
    if (this.seen.size >= this.limit) return 'other';
    this.seen.add(value);
    return value;
  }
}
