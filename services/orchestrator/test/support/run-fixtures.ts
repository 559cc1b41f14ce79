import type { AnyEnvelope, Decision } from '@warden/contracts';
import { deriveId, type Clock } from '@warden/kernel';

/**
 * Given/when/then fixtures for the run's pure functions: envelopes of one run, numbered in order (ids
 * derived from `idPrefix`, each a millisecond after the last, or at `at`), and an allowing decision
 * whose `signature` is the placeholder `'sig'` the specs' `decisionAuthentic` accepts.
 * @example const { env, decision } = runFixtures({ runId: RUN, traceId: TRACE, clock, idPrefix: 'run-test' })
 */
export function runFixtures(opts: { runId: string; traceId: string; clock: Clock; idPrefix: string }) {
  let n = 0;
  function env<T extends AnyEnvelope['type']>(
    type: T,
    data: Extract<AnyEnvelope, { type: T }>['data'],
    at?: Date,
  ): AnyEnvelope {
    n += 1;
    return {
      id: deriveId(opts.idPrefix, String(n)),
      type,
      version: 1,
      run_id: opts.runId,
      occurred_at: (at ?? new Date(opts.clock.now().getTime() + n)).toISOString(),
      producer: 'test',
      correlation_id: opts.runId,
      causation_id: null,
      trace_id: opts.traceId,
      data,
    } as AnyEnvelope;
  }
  const decision = (over: Partial<Decision> = {}): Decision => ({
    outcome: 'allow',
    tier: 1,
    mode: 'enforce',
    rule_ids: ['r1'],
    reasons: ['because'],
    constraints: {},
    policy_version: 'v1',
    policy_digest: 'sha256:' + '0'.repeat(64),
    input_hash: 'sha256:' + '1'.repeat(64),
    trace_id: opts.traceId,
    evaluated_at: opts.clock.now().toISOString(),
    signature: 'sig',
    ...over,
  });
  return { env, decision };
}
