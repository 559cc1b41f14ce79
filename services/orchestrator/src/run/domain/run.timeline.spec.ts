import type { AnyEnvelope, ExecutionGrant } from '@warden/contracts';
import { deriveId, fixedClock, sha256Canonical } from '@warden/kernel';
import { runFixtures } from '../../../test/support/run-fixtures';
import { FORGED_DECISION_NOTE, foldTimeline } from './run.timeline';
import { evolve, initialState, type RunState } from './run.state';

const RUN = '33333333-3333-4333-8333-333333333333';
const TRACE = 'c'.repeat(32);
const clock = fixedClock('2026-12-03T10:00:00.000Z');
const { env, decision } = runFixtures({ runId: RUN, traceId: TRACE, clock, idPrefix: 'timeline-test' });

const action = { tool: 'browser.click', args: { selector: '#buy' } };
const received = (executor?: 'client') =>
  env('task_received', {
    submission: { run_id: RUN, agent: { id: 'a1', role: 'dev' }, action, ...(executor ? { executor } : {}) },
    channel: 'http',
  });

const given = (...events: AnyEnvelope[]): RunState => events.reduce(evolve, initialState(RUN));

/** A client run holding a grant (running), and the grant. */
function clientRunGranted(): { state: RunState; grant: ExecutionGrant } {
  const grant: ExecutionGrant = {
    grant_id: deriveId('timeline-test', 'grant'),
    run_id: RUN,
    agent: { id: 'a1', role: 'dev' },
    action,
    action_hash: sha256Canonical(action),
    policy_digest: decision().policy_digest,
    issued_at: clock.now().toISOString(),
    expires_at: new Date(clock.now().getTime() + 60_000).toISOString(),
  };
  const state = given(
    received('client'),
    env('decision_made', decision()),
    env('execution_granted', { grant, signature: 'x' }),
  );
  return { state, grant };
}

const reportOf = (grant: ExecutionGrant, over: { grant_id?: string } = {}) =>
  env('execution_reported', {
    grant_id: over.grant_id ?? grant.grant_id,
    action_hash: grant.action_hash,
    outcome: { output: { clicked: true }, output_hash: sha256Canonical({ clicked: true }) },
    reported_by: { kind: 'api_key', id: 'k1' },
  });

describe('the run timeline fold (given / when / then)', () => {
  it('folds an authentic event into the run, with no note, and saves the run', () => {
    const before = given(received());
    const e = env('decision_made', decision());
    expect(foldTimeline(before, e, false)).toEqual({ after: evolve(before, e), saveState: true });
    expect(foldTimeline(before, e, false).after.decision).toEqual(decision());
  });

  it('keeps a forged decision out of the run, notes it, and still saves the received run', () => {
    const before = given(received());
    const step = foldTimeline(before, env('decision_made', decision({ signature: 'forged' })), true);
    expect(step).toEqual({ after: before, note: FORGED_DECISION_NOTE, saveState: true });
    expect(step.after.decision).toBeUndefined();
  });

  it('writes no run row for a forged decision about a run it never received (only the timeline keeps it)', () => {
    const before = initialState(RUN);
    expect(foldTimeline(before, env('decision_made', decision({ signature: 'forged' })), true)).toEqual({
      after: before,
      note: FORGED_DECISION_NOTE,
      saveState: false,
    });
  });

  it('never notes an authentic event, even one for a run not yet received', () => {
    const before = initialState(RUN);
    const step = foldTimeline(before, env('decision_made', decision()), false);
    expect(step.saveState).toBe(true);
    expect(step.note).toBeUndefined();
  });

  it('a report that settles the grant is folded without a note', () => {
    const { state, grant } = clientRunGranted();
    const report = reportOf(grant);
    const step = foldTimeline(state, report, false);
    expect(step.note).toBeUndefined();
    // the grant now names the report that settled it
    expect(step.after.grant?.reportId).toBe(report.id);
  });

  it('a second report, or one naming another grant, changes nothing and is noted with the reason', () => {
    const { state, grant } = clientRunGranted();
    const first = reportOf(grant);
    const settled = evolve(state, first);
    const again = foldTimeline(settled, reportOf(grant), false);
    expect(again).toEqual({ after: settled, note: 'ignored: the grant was already reported', saveState: true });
    const other = foldTimeline(state, reportOf(grant, { grant_id: deriveId('timeline-test', 'other') }), false);
    expect(other.note).toBe('ignored: the report names another grant');
    expect(other.after.grant).toEqual(state.grant);
  });

  it('a report for a run that holds no grant is noted', () => {
    const { grant } = clientRunGranted();
    expect(foldTimeline(given(received()), reportOf(grant), false).note).toBe(
      'ignored: the run holds no execution grant',
    );
  });
});
