import { Inject, Injectable } from '@nestjs/common';
import { decisionSigningPayload, type Decision, type Envelope } from '@warden/contracts';
import { makeEnvelope } from '@warden/bus';
import { ValidationError, deriveId, signCanonical, type Clock, type SigningKeys } from '@warden/kernel';
import { ActiveBundle } from '../bundle/active-bundle';
import { policyMetrics } from './decision.metrics';
import { budgetCrossings, evaluate, policyInput } from './domain/evaluate';
import { SessionUsageStore } from './session-usage.store';
import { CLOCK, SIGNING_KEYS } from './tokens';

const PRODUCER = 'policy';
/** Counter lifetime when the bundle sets no session budget (sessions are still counted). */
const DEFAULT_WINDOW_SECONDS = 86400;

/**
 * Judges a received task: records the session's usage, evaluates under the active bundle, signs.
 * Every event it returns has an id derived from the task_received event, so handling the same
 * event again yields the same ids and the broker drops the copies.
 */
@Injectable()
export class DecisionService {
  constructor(
    @Inject(ActiveBundle) private readonly bundles: ActiveBundle,
    @Inject(SessionUsageStore) private readonly usage: SessionUsageStore,
    @Inject(SIGNING_KEYS) private readonly keys: SigningKeys,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  /** `decision_made`, then a `budget_exceeded` for each session budget this run crosses first. */
  async decide(received: Envelope<'task_received'>): Promise<Envelope[]> {
    const submission = received.data.submission;
    const runId = received.run_id;
    if (runId !== submission.run_id) {
      throw new ValidationError([
        { path: 'run_id', message: `must equal data.submission.run_id (${submission.run_id})` },
      ]);
    }
    const policy = this.bundles.current;
    const window = policy.bundle.budgets.session?.window_seconds ?? DEFAULT_WINDOW_SECONDS;
    const before = submission.session_id
      ? await this.usage.record(submission.session_id, runId, submission.usage?.tokens ?? 0, window)
      : null;
    const input = policyInput(submission, before);
    const now = this.clock.now();
    const unsigned: Decision = { ...evaluate(policy, input, now), trace_id: received.trace_id };
    const decision: Decision = {
      ...unsigned,
      signature: signCanonical(this.keys, decisionSigningPayload(runId, submission.action, unsigned)),
    };
    const common = {
      runId,
      producer: PRODUCER,
      traceId: received.trace_id,
      correlationId: runId,
      causationId: received.id,
      occurredAt: now,
    };
    const events: Envelope[] = [makeEnvelope({ ...common, type: 'decision_made', data: decision })];
    for (const c of budgetCrossings(policy, input)) {
      events.push(
        makeEnvelope({
          ...common,
          type: 'budget_exceeded',
          // one per budget: both may be crossed by the same run
          id: deriveId(received.id, 'budget_exceeded', c.budget),
          data: { session_id: submission.session_id!, budget: c.budget, used: c.used, limit: c.limit },
        }),
      );
      policyMetrics.budgetsExceeded.inc({ budget: c.budget });
    }
    policyMetrics.decisions.inc({ outcome: decision.outcome, tier: String(decision.tier), mode: decision.mode });
    return events;
  }
}
