import type { AnyEnvelope } from '@warden/contracts';
import { deriveId, fixedClock, sha256Canonical } from '@warden/kernel';
import { runFixtures } from '../../../test/support/run-fixtures';
import { react, type DispatchRun, type ReactContext } from './run.decide';
import { executeCommandFor } from './run.dispatch';
import { evolve, initialState, type RunState } from './run.state';

const RUN = '44444444-4444-4444-8444-444444444444';
const TRACE = 'd'.repeat(32);
const clock = fixedClock('2026-12-03T10:00:00.000Z');
const { env, decision } = runFixtures({ runId: RUN, traceId: TRACE, clock, idPrefix: 'dispatch-test' });

const action = { tool: 'fs.write_file', args: { path: 'x', content: 'y' } };
const received = (sessionId?: string) =>
  env('task_received', {
    submission: {
      run_id: RUN,
      agent: { id: 'a1', role: 'dev' },
      ...(sessionId ? { session_id: sessionId } : {}),
      action,
    },
    channel: 'bus',
  });

const ctx: ReactContext = {
  now: clock.now(),
  decisionAuthentic: (d) => d.signature === 'sig',
  approvalTtlMs: 60_000,
  requiredVotes: () => 1,
  workerSubject: (role) => `warden.cmd.workers.${role}.execute`,
};

const given = (...events: AnyEnvelope[]): RunState => events.reduce(evolve, initialState(RUN));

/** when the decision arrives, the dispatch react asks for */
function dispatchOn(state: RunState, cause: AnyEnvelope): DispatchRun {
  const d = react(state, cause, ctx).find((r): r is DispatchRun => r.kind === 'dispatch');
  if (!d) throw new Error('react dispatched nothing');
  return d;
}

describe('the worker command of a queued run (given / when / then)', () => {
  it('carries the run, role, action, decision and its hash, who proposed it, the trace and the clock', () => {
    const state = given(received('s1'));
    const cause = env('decision_made', decision());
    const command = executeCommandFor(state, cause, dispatchOn(state, cause), clock.now());
    expect(command).toEqual({
      command_id: deriveId(cause.id, 'execute'),
      run_id: RUN,
      role: 'dev',
      action,
      decision: decision(),
      decision_hash: sha256Canonical(decision()),
      approval_id: undefined,
      agent_id: 'a1',
      session_id: 's1',
      trace_id: TRACE,
      causation_id: cause.id,
      issued_at: '2026-12-03T10:00:00.000Z',
    });
  });

  it('has the same id when the releasing event is replayed (the broker drops the copy), another for another cause', () => {
    const state = given(received());
    const cause = env('decision_made', decision());
    const once = executeCommandFor(state, cause, dispatchOn(state, cause), clock.now());
    const replayed = executeCommandFor(state, cause, dispatchOn(state, cause), new Date(clock.now().getTime() + 5000));
    expect(replayed.command_id).toBe(once.command_id);
    const other = env('decision_made', decision());
    expect(executeCommandFor(state, other, dispatchOn(state, other), clock.now()).command_id).not.toBe(once.command_id);
  });

  it('names no session when the run has none', () => {
    const state = given(received());
    const cause = env('decision_made', decision());
    expect(executeCommandFor(state, cause, dispatchOn(state, cause), clock.now())).not.toHaveProperty('session_id');
  });

  it("runs the policy's rewrite for an enforced compute decision, hashing the decision it carries", () => {
    const rewritten = { tool: 'fs.write_file', args: { path: 'safe/x', content: 'y' } };
    const d = decision({ outcome: 'compute', rewritten_action: rewritten });
    const state = given(received());
    const cause = env('decision_made', d);
    const command = executeCommandFor(state, cause, dispatchOn(state, cause), clock.now());
    expect(command.action).toEqual(rewritten);
    expect(command.decision_hash).toBe(sha256Canonical(d));
  });

  it('carries the approval that released an escalated run', () => {
    const approvalId = deriveId('dispatch-test', 'approval');
    const state = given(received());
    const dispatch: DispatchRun = {
      kind: 'dispatch',
      role: 'dev',
      action,
      decision: decision({ tier: 2 }),
      approvalId,
    };
    const cause = env('decision_made', decision({ tier: 2 }));
    expect(executeCommandFor(state, cause, dispatch, clock.now()).approval_id).toBe(approvalId);
  });
});
