import { startTracing } from '@warden/observability';

// must run before Nest, pg and ioredis are loaded so OpenTelemetry can hook them
startTracing('ingest');
