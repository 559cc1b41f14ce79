import { Counter, Gauge, Histogram } from 'prom-client';
import { registry } from '@warden/observability';

function get<T>(name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

/** Approval metrics. Labels are bounded: tier 1..3, four channels, three outcomes. */
export const approvalMetrics = {
  pending: get(
    'warden_approvals_pending',
    () =>
      new Gauge({
        name: 'warden_approvals_pending',
        help: 'Approvals waiting for a decision, by tier',
        labelNames: ['tier'],
        registers: [registry],
      }),
  ),
  waitSeconds: get(
    'warden_approval_wait_seconds',
    () =>
      new Histogram({
        name: 'warden_approval_wait_seconds',
        help: 'Time from approval_requested to its closure, by outcome and tier',
        labelNames: ['outcome', 'tier'],
        buckets: [1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600],
        registers: [registry],
      }),
  ),
  decisions: get(
    'warden_approval_decisions_total',
    () =>
      new Counter({
        name: 'warden_approval_decisions_total',
        help: 'Approvals closed by a vote, by the channel of the closing vote and outcome',
        labelNames: ['channel', 'outcome'],
        registers: [registry],
      }),
  ),
  votes: get(
    'warden_approval_votes_total',
    () =>
      new Counter({
        name: 'warden_approval_votes_total',
        help: 'Votes recorded, by channel and vote',
        labelNames: ['channel', 'vote'],
        registers: [registry],
      }),
  ),
  expiries: get(
    'warden_approval_expiries_total',
    () =>
      new Counter({
        name: 'warden_approval_expiries_total',
        help: 'Approvals that expired undecided',
        registers: [registry],
      }),
  ),
  escalations: get(
    'warden_approval_escalations_total',
    () =>
      new Counter({
        name: 'warden_approval_escalations_total',
        help: 'Escalation chain notifications',
        registers: [registry],
      }),
  ),
  voided: get(
    'warden_approval_voided_total',
    () =>
      new Counter({
        name: 'warden_approval_voided_total',
        help: 'Grants voided by the policy re-check',
        registers: [registry],
      }),
  ),
  recheckFailures: get(
    'warden_approval_recheck_failures_total',
    () =>
      new Counter({
        name: 'warden_approval_recheck_failures_total',
        help: 'Policy re-checks that got no usable answer (retried)',
        registers: [registry],
      }),
  ),
};
