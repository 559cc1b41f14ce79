import { Counter } from 'prom-client';
import { registry } from '@warden/observability';

function counter(name: string, help: string, labelNames: string[] = []): Counter {
  return (
    (registry.getSingleMetric(name) as Counter | undefined) ??
    new Counter({ name, help, labelNames, registers: [registry] })
  );
}

/** Ingest metrics. Labels are bounded: channel (bus|http|webhook), outcome, reason. */
export const ingestMetrics = {
  submissions: counter(
    'warden_ingest_submissions_total',
    'Submissions handled, by outcome (accepted|duplicate|rejected)',
    ['channel', 'outcome'],
  ),
  duplicates: counter(
    'warden_ingest_duplicates_total',
    'Submissions dropped as duplicates of an earlier run (same agent + idempotency key)',
    ['channel'],
  ),
  rejections: counter(
    'warden_ingest_rejections_total',
    'Submissions rejected, by reason (too_large|malformed|invalid|run_id_in_use|agent_mismatch|role_mismatch)',
    ['channel', 'reason'],
  ),
  rateLimited: counter('warden_ingest_rate_limited_total', 'Requests refused with 429 by the per-key token bucket'),
  rateLimiterErrors: counter(
    'warden_ingest_rate_limiter_errors_total',
    'Requests let through because Redis did not answer the rate limiter',
  ),
  webhooks: counter(
    'warden_ingest_webhooks_total',
    'Webhook deliveries, by outcome (accepted|replayed|bad_signature|stale|unknown_source|invalid)',
    ['outcome'],
  ),
};
