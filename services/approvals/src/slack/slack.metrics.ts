import { Counter, Histogram } from 'prom-client';
import { registry } from '@warden/observability';

function counter(name: string, help: string, labelNames: string[]): Counter {
  return (registry.getSingleMetric(name) as Counter) ?? new Counter({ name, help, labelNames, registers: [registry] });
}

/** Slack metrics; labels are bounded (message kind, outcome, API method, command). */
export const slackMetrics = {
  messages: counter('warden_slack_messages_total', 'Slack approval messages by kind and outcome', ['kind', 'outcome']),
  apiSeconds:
    (registry.getSingleMetric('warden_slack_api_seconds') as Histogram) ??
    new Histogram({
      name: 'warden_slack_api_seconds',
      help: 'Slack Web API call time',
      labelNames: ['method'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
  requests: counter('warden_slack_requests_total', 'Incoming Slack requests by route and outcome', [
    'route',
    'outcome',
  ]),
};
