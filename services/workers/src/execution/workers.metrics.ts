import { Counter, Gauge, Histogram } from 'prom-client';
import { registry } from '@warden/observability';

function counter(name: string, help: string, labelNames: string[]): Counter {
  return (
    (registry.getSingleMetric(name) as Counter | undefined) ??
    new Counter({ name, help, labelNames, registers: [registry] })
  );
}

/** What a sandbox pool holds right now. */
export interface PoolState {
  pool: string;
  idle: number;
  busy: number;
}
const poolSources = new Set<() => PoolState[]>();

/** Registers the pools `/metrics` reports (`warden_workers_sandboxes{pool,state}`); returns the unregister function. */
export function registerPools(read: () => PoolState[]): () => void {
  poolSources.add(read);
  return () => poolSources.delete(read);
}

/** Workers metrics. Labels are bounded: refusal reasons, registered tool names (else `unknown`), outcomes. */
export const workersMetrics = {
  refused: counter('warden_workers_refused_total', 'Execute commands refused before anything ran', ['reason']),
  sandboxStarts: counter(
    'warden_workers_sandbox_starts_total',
    'Sandbox processes started, by pool and why (warm, refill, recycle; on_path: the pool was stalled while executions waited; queue: executions queued one or more at a time on average)',
    ['pool', 'reason'],
  ),
  executions: counter('warden_workers_executions_total', 'Execute commands settled, by what happened', [
    'tool',
    'outcome',
  ]),
  executionSeconds:
    (registry.getSingleMetric('warden_workers_execution_seconds') as Histogram | undefined) ??
    new Histogram({
      name: 'warden_workers_execution_seconds',
      help: 'Time a tool ran (in its sandbox), by tool and result',
      labelNames: ['tool', 'outcome'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
  sandboxes:
    (registry.getSingleMetric('warden_workers_sandboxes') as Gauge | undefined) ??
    new Gauge({
      name: 'warden_workers_sandboxes',
      help: 'Sandbox processes per pool, by state (idle: started and waiting, busy: executing or starting)',
      labelNames: ['pool', 'state'],
      registers: [registry],
      collect(this: Gauge) {
        this.reset();
        for (const read of poolSources)
          for (const p of read()) {
            this.inc({ pool: p.pool, state: 'idle' }, p.idle);
            this.inc({ pool: p.pool, state: 'busy' }, p.busy);
          }
      },
    }),
};
