import { Counter } from 'prom-client';
import { registry } from '@warden/observability';

function counter(name: string, help: string, labelNames: string[]): Counter {
  return (
    (registry.getSingleMetric(name) as Counter | undefined) ??
    new Counter({ name, help, labelNames, registers: [registry] })
  );
}

/** Policy metrics. Labels are bounded: outcome (allow|deny|escalate|compute), tier, mode, budget. */
export const policyMetrics = {
  decisions: counter('warden_policy_decisions_total', 'Decisions made, by outcome, tier and mode', [
    'outcome',
    'tier',
    'mode',
  ]),
  budgetsExceeded: counter('warden_policy_budgets_exceeded_total', 'Sessions that went over a budget, by budget', [
    'budget',
  ]),
};
