import type { AnyEnvelope } from '@warden/contracts';
import { deriveId, fixedClock, sha256Canonical } from '@warden/kernel';
import { runFixtures } from '../../../test/support/run-fixtures';
import { RECORDED_ONLY, decideCancel, react, type ReactContext } from './run.decide';
import { evolve, initialState, type RunState } from './run.state';

const RUN = '11111111-1111-4111-8111-111111111111';
const TRACE = 'a'.repeat(32);
const clock = fixedClock('2026-11-21T10:00:00.000Z');
const { env, decision } = runFixtures({ runId: RUN, traceId: TRACE, clock, idPrefix: 'test' });

const received = () =>
  env('task_received', {
    submission: {
      run_id: RUN,
      agent: { id: 'a1', role: 'dev' },
      session_id: 's1',
      action: { tool: 'fs.write_file', args: { path: 'x', content: 'y' } },
    },
    channel: 'bus',
  });

const ctx: ReactContext = {
  now: clock.now(),
  decisionAuthentic: (d) => d.signature === 'sig',
  approvalTtlMs: 60_000,
  requiredVotes: (t) => (t === 3 ? 2 : 1),
  workerSubject: (role) => `warden.cmd.workers.${role}.execute`,
};

/** given events, fold them; return the state. */
function given(...events: AnyEnvelope[]): RunState {
  return events.reduce(evolve, initialState(RUN));
}

describe('run process (given / when / then)', () => {
  it('queues an allowed run for its role with the action as proposed', () => {
    const state = given(received());
    const out = react(state, env('decision_made', decision()), ctx);
    expect(out).toEqual([
      {
        kind: 'event',
        type: 'run_queued',
        data: { role: 'dev', subject: 'warden.cmd.workers.dev.execute', action: state.action },
      },
      expect.objectContaining({ kind: 'dispatch', role: 'dev', action: state.action }),
    ]);
  });

  it('runs the rewritten action for an enforced compute decision', () => {
    const rewritten = { tool: 'fs.write_file', args: { path: 'sandbox/x', content: 'y' } };
    const out = react(
      given(received()),
      env('decision_made', decision({ outcome: 'compute', rewritten_action: rewritten })),
      ctx,
    );
    expect(out[1]).toMatchObject({ kind: 'dispatch', action: rewritten });
  });

  it('denies a compute decision that carries no rewrite', () => {
    const out = react(given(received()), env('decision_made', decision({ outcome: 'compute' })), ctx);
    expect(out).toEqual([expect.objectContaining({ type: 'run_denied' })]);
  });

  it('denies with the policy reasons', () => {
    const out = react(
      given(received()),
      env('decision_made', decision({ outcome: 'deny', rule_ids: ['secrets'], reasons: ['no'] })),
      ctx,
    );
    expect(out).toEqual([{ kind: 'event', type: 'run_denied', data: { reasons: ['no'], rule_ids: ['secrets'] } }]);
  });

  it('does nothing about a decision whose signature does not verify (no denial a forger could trigger)', () => {
    const out = react(given(received()), env('decision_made', decision({ signature: 'forged', outcome: 'deny' })), ctx);
    expect(out).toEqual([]);
  });

  it('lets an observed deny proceed as allowed, with the original action', () => {
    const state = given(received());
    const out = react(state, env('decision_made', decision({ outcome: 'deny', mode: 'observe' })), ctx);
    expect(out[0]).toMatchObject({ type: 'run_queued' });
    expect(out[1]).toMatchObject({ kind: 'dispatch', action: state.action });
  });

  it('escalates with a deterministic approval id, the tier votes and an expiry from the clock', () => {
    const d = env('decision_made', decision({ outcome: 'escalate', tier: 3 }));
    const out = react(given(received()), d, ctx);
    expect(out).toEqual([
      expect.objectContaining({
        type: 'approval_requested',
        data: expect.objectContaining({
          approval_id: deriveId(d.id, 'approval'),
          tier: 3,
          required_votes: 2,
          expires_at: '2026-11-21T10:01:00.000Z',
        }),
      }),
    ]);
    expect(react(given(received()), d, ctx)).toEqual(out); // deterministic
  });

  it('queues after approval is granted, carrying the approval id', () => {
    const d = env('decision_made', decision({ outcome: 'escalate', tier: 2 }));
    const approvalId = deriveId(d.id, 'approval');
    const req = env('approval_requested', {
      approval_id: approvalId,
      tier: 2,
      required_votes: 1,
      expires_at: '2026-11-22T00:00:00.000Z',
      agent: { id: 'a1', role: 'dev' },
      action: { tool: 'git.push', args: {} },
      decision: decision({ outcome: 'escalate', tier: 2 }),
    });
    const state = given(received(), d, req);
    expect(state.status).toBe('awaiting_approval');
    const binding = {
      action_hash: sha256Canonical(state.action),
      policy_digest: state.decision!.policy_digest,
      tier: 2 as const,
    };
    const vote = env('approval_vote', {
      approval_id: approvalId,
      operator: 'op',
      operator_id: 'op-1',
      vote: 'approve',
    });
    const voted = evolve(state, vote);
    const counted = { votes: [{ vote_id: vote.id, operator_id: 'op-1', operator: 'op' }] };
    const out = react(
      voted,
      env('approval_granted', { approval_id: approvalId, operators: ['op'], ...counted, ...binding }),
      ctx,
    );
    expect(out[1]).toMatchObject({ kind: 'dispatch', approvalId });
    // the same grant without the signed vote it counts (never seen) voids
    expect(
      react(
        state,
        env('approval_granted', { approval_id: approvalId, operators: ['op'], ...counted, ...binding }),
        ctx,
      ),
    ).toEqual([expect.objectContaining({ type: 'run_denied' })]);
    // a grant for another approval does nothing
    expect(react(state, env('approval_granted', { approval_id: deriveId('other'), operators: [] }), ctx)).toEqual([]);
    // a grant bound to another action, another policy digest, a lower tier, or to nothing ends the run
    for (const bad of [
      { ...binding, action_hash: sha256Canonical({ tool: 'git.push', args: { force: true } }) },
      { ...binding, policy_digest: 'sha256:' + '9'.repeat(64) },
      { ...binding, tier: 1 as const },
      {},
    ]) {
      const voided = react(
        voted,
        env('approval_granted', { approval_id: approvalId, operators: ['op'], ...counted, ...bad }),
        ctx,
      );
      expect(voided).toEqual([
        expect.objectContaining({
          type: 'run_denied',
          data: expect.objectContaining({ rule_ids: ['orchestrator.approval-binding'] }),
        }),
      ]);
    }
    const rejected = evolve(state, env('approval_rejected', { approval_id: approvalId, operators: ['op'] }));
    expect(rejected.status).toBe('rejected');
  });

  it('takes the approval expiry from the decision constraints, else the per-tier default, and binds the action hash', () => {
    const perTier: ReactContext = { ...ctx, approvalTtlMs: (tier) => (tier === 3 ? 7_200_000 : 60_000) };
    const state = given(received());
    const fromTier = react(state, env('decision_made', decision({ outcome: 'escalate', tier: 3 })), perTier);
    expect(fromTier[0]).toMatchObject({
      data: { expires_at: '2026-11-21T12:00:00.000Z', ttl_seconds: 7200, action_hash: sha256Canonical(state.action) },
    });
    const fromRule = react(
      state,
      env('decision_made', decision({ outcome: 'escalate', tier: 3, constraints: { expires_in_seconds: 30 } })),
      perTier,
    );
    expect(fromRule[0]).toMatchObject({ data: { expires_at: '2026-11-21T10:00:30.000Z', ttl_seconds: 30 } });
  });

  it('asks for a review when a run allowed with review: true finishes, not otherwise', () => {
    const result = { output: { created: true }, output_hash: 'sha256:' + '2'.repeat(64) };
    const running = (review?: boolean) =>
      given(
        received(),
        env('decision_made', decision(review ? { review } : {})),
        env('run_queued', { role: 'dev', subject: 's', action: { tool: 'fs.write_file', args: {} } }),
        env('run_started', { worker_id: 'w', attempt: 1 }),
      );
    const out = react(running(true), env('run_succeeded', { result }), ctx);
    expect(out).toEqual([
      {
        kind: 'event',
        type: 'review_requested',
        data: expect.objectContaining({
          review_id: deriveId(RUN, 'review'),
          action: { tool: 'fs.write_file', args: { path: 'x', content: 'y' } },
          result,
          agent: { id: 'a1', role: 'dev' },
          outcome: 'succeeded',
        }),
      },
    ]);
    expect(react(running(true), env('run_failed', { result }), ctx)[0]).toMatchObject({
      data: { outcome: 'failed' },
    });
    expect(react(running(false), env('run_succeeded', { result }), ctx)).toEqual([]);
  });

  it('walks received → queued → running → succeeded and keeps the result', () => {
    const result = { output: { ok: true }, output_hash: 'sha256:' + '2'.repeat(64) };
    const s = given(
      received(),
      env('decision_made', decision()),
      env('run_queued', { role: 'dev', subject: 's', action: { tool: 'fs.read_file', args: {} } }),
      env('run_started', { worker_id: 'w', attempt: 1 }),
      env('run_succeeded', { result }),
    );
    expect(s.status).toBe('succeeded');
    expect(s.result).toEqual(result);
  });

  it('never leaves a terminal status and reacts to nothing after it', () => {
    const denied = given(
      received(),
      env('decision_made', decision({ outcome: 'deny' })),
      env('run_denied', { reasons: [], rule_ids: [] }),
    );
    expect(denied.status).toBe('denied');
    const after = [
      env('run_queued', { role: 'dev', subject: 's', action: { tool: 'x.y', args: {} } }),
      env('run_started', { worker_id: 'w', attempt: 1 }),
      env('run_succeeded', { result: { output: null, output_hash: 'sha256:' + '3'.repeat(64) } }),
      env('run_cancelled', { by: 'op' }),
    ];
    for (const e of after) {
      expect(evolve(denied, e).status).toBe('denied');
      expect(react(denied, e, ctx)).toEqual([]);
    }
  });

  it('ignores a second decision for the same run', () => {
    const s = given(received(), env('decision_made', decision()));
    expect(react(s, env('decision_made', decision({ outcome: 'deny' })), ctx)).toEqual([]);
  });

  it('does nothing for events of a run it never received', () => {
    expect(react(initialState(RUN), env('decision_made', decision()), ctx)).toEqual([]);
    expect(
      evolve(
        initialState(RUN),
        env('run_succeeded', { result: { output: 1, output_hash: 'sha256:' + '4'.repeat(64) } }),
      ).status,
    ).toBe('none');
  });

  it('cancels only a known, non-terminal run', () => {
    expect(() => decideCancel(undefined)).toThrow(expect.objectContaining({ code: 'RUN.NOT_FOUND' }));
    expect(() => decideCancel(given(received()))).not.toThrow();
    const done = given(
      received(),
      env('decision_made', decision({ outcome: 'deny' })),
      env('run_denied', { reasons: [], rule_ids: [] }),
    );
    expect(() => decideCancel(done)).toThrow(expect.objectContaining({ code: 'RUN.ALREADY_TERMINAL' }));
  });
});

describe('events the process manager only records', () => {
  it('never reacts to a RECORDED_ONLY event, in any state a run can be in', () => {
    const queued = given(received(), env('decision_made', decision()));
    const awaiting = given(received(), env('decision_made', decision({ outcome: 'escalate', tier: 2 })));
    const running = evolve(queued, env('run_started', { worker_id: 'w1', attempt: 1 } as never));
    for (const state of [initialState(RUN), given(received()), queued, awaiting, running])
      for (const type of RECORDED_ONLY) {
        // the data is irrelevant to the switch: react() acts on the type alone, and these types it ignores
        expect([state.status, type, react(state, env(type, {} as never), ctx)]).toEqual([state.status, type, []]);
      }
  });

  it('is not the whole list: the events it acts on are outside it', () => {
    for (const type of ['decision_made', 'approval_granted', 'execution_reported', 'run_succeeded', 'run_failed'])
      expect(RECORDED_ONLY).not.toContain(type);
  });
});
