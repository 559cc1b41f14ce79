import { Counter } from 'prom-client';
import { registry } from '@warden/observability';

function counter(name: string, help: string, labelNames: string[]): Counter {
  return (
    (registry.getSingleMetric(name) as Counter | undefined) ??
    new Counter({ name, help, labelNames, registers: [registry] })
  );
}

/** Workers metrics. Labels are bounded: refusal reasons, registered tool names (else `unknown`), outcomes. */
export const workersMetrics = {
  refused: counter('warden_workers_refused_total', 'Execute commands refused before anything ran', ['reason']),
  executions: counter('warden_workers_executions_total', 'Execute commands settled, by what happened', [
    'tool',
    'outcome',
  ]),
};
