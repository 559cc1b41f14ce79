import type { AnyEnvelope, ExecutionGrant } from '@warden/contracts';
import { deriveId, fixedClock, sha256Canonical } from '@warden/kernel';
import { runFixtures } from '../../../test/support/run-fixtures';
import { CLIENT_EXECUTOR_RULE, grantExpiry } from './execution';
import { react, type GrantExecution, type ReactContext } from './run.decide';
import { evolve, initialState, type RunState } from './run.state';

const RUN = '22222222-2222-4222-8222-222222222222';
const TRACE = 'b'.repeat(32);
const clock = fixedClock('2026-12-03T10:00:00.000Z');
const { env, decision } = runFixtures({ runId: RUN, traceId: TRACE, clock, idPrefix: 'byo-test' });

const action = { tool: 'browser.click', args: { selector: '#buy' } };
const received = (executor?: 'client' | 'worker') =>
  env('task_received', {
    submission: { run_id: RUN, agent: { id: 'a1', role: 'dev' }, action, ...(executor ? { executor } : {}) },
    channel: 'http',
  });

const ctx: ReactContext = {
  now: clock.now(),
  decisionAuthentic: (d) => d.signature === 'sig',
  approvalTtlMs: 60_000,
  requiredVotes: () => 1,
  workerSubject: (role) => `warden.cmd.workers.${role}.execute`,
  clientExecutor: { maxTier: 2, grantTtlMs: 30_000 },
};

const given = (...events: AnyEnvelope[]): RunState => events.reduce(evolve, initialState(RUN));

/** The allowed client run, granted: its state and the grant. */
function granted(): { state: RunState; grant: ExecutionGrant } {
  const start = given(received('client'));
  const d = env('decision_made', decision());
  const [r] = react(start, d, ctx) as [GrantExecution];
  const state = given(received('client'), d, env('execution_granted', { grant: r.grant, signature: 'x' }));
  return { state, grant: r.grant };
}

const report = (
  grant: ExecutionGrant,
  over: { action_hash?: string; grant_id?: string; error?: boolean } = {},
  at?: Date,
) =>
  env(
    'execution_reported',
    {
      grant_id: over.grant_id ?? grant.grant_id,
      action_hash: over.action_hash ?? grant.action_hash,
      outcome: {
        output: { clicked: true },
        output_hash: sha256Canonical({ clicked: true }),
        ...(over.error ? { error: { code: 'TOOL.FAILED', message: 'no such element' } } : {}),
      },
      reported_by: { kind: 'api_key', id: 'k1' },
    },
    at,
  );

describe('bring your own executor (given / when / then)', () => {
  it('an allowed client run gets one grant bound to the action hash, policy digest and deadline — no worker dispatch', () => {
    const out = react(given(received('client')), env('decision_made', decision()), ctx);
    expect(out).toEqual([
      {
        kind: 'grant',
        grant: expect.objectContaining({
          run_id: RUN,
          agent: { id: 'a1', role: 'dev' },
          action,
          action_hash: sha256Canonical(action),
          policy_digest: decision().policy_digest,
          expires_at: new Date(clock.now().getTime() + 30_000).toISOString(),
          trace_id: TRACE,
        }),
      },
    ]);
  });

  it('the grant moves the run to running; a report settles it once, as succeeded with the output hash', () => {
    const { state, grant } = granted();
    expect(state).toMatchObject({ status: 'running', executor: 'client', grant: { id: grant.grant_id } });
    const rep = report(grant);
    const out = react(state, rep, ctx);
    expect(out).toEqual([
      {
        kind: 'event',
        type: 'execution_succeeded',
        data: {
          grant_id: grant.grant_id,
          reason: 'reported',
          report_id: rep.id,
          result: { output: { clicked: true }, output_hash: sha256Canonical({ clicked: true }) },
        },
      },
    ]);
    const after = evolve(state, rep);
    expect(after.grant?.reportId).toBe(rep.id);
    // a second report of the same grant settles nothing
    expect(react(after, report(grant), ctx)).toEqual([]);
    const done = evolve(after, env('execution_succeeded', (out[0] as unknown as { data: never }).data));
    expect(done).toMatchObject({ status: 'succeeded', result: { output_hash: sha256Canonical({ clicked: true }) } });
  });

  it('a report with an error settles the run failed', () => {
    const { state, grant } = granted();
    expect(react(state, report(grant, { error: true }), ctx)[0]).toMatchObject({ type: 'execution_failed' });
  });

  it('a report for another action hash, another grant, or after the deadline settles nothing', () => {
    const { state, grant } = granted();
    expect(react(state, report(grant, { action_hash: sha256Canonical({ tool: 'x.y', args: {} }) }), ctx)).toEqual([]);
    expect(react(state, report(grant, { grant_id: deriveId('other', 'grant') }), ctx)).toEqual([]);
    const late = new Date(Date.parse(grant.expires_at) + 1);
    expect(react(state, report(grant, {}, late), ctx)).toEqual([]);
    expect(evolve(state, report(grant, {}, late)).grant?.reportId).toBeUndefined();
  });

  it('an expired grant ends the run failed with outcome_unknown; a report after that changes nothing', () => {
    const { state, grant } = granted();
    const result = {
      output: null,
      output_hash: sha256Canonical(null),
      error: { code: 'GRANT.EXPIRED', message: 'expired' },
      outcome_unknown: true,
    };
    const failed = evolve(state, env('execution_failed', { grant_id: grant.grant_id, reason: 'expired', result }));
    expect(failed).toMatchObject({ status: 'failed', result: { outcome_unknown: true } });
    expect(react(failed, report(grant), ctx)).toEqual([]);
  });

  it("the sweeper's expiry of a grant: one id per grant, execution_failed expired with outcome_unknown, ending the run", () => {
    const { state, grant } = granted();
    const expiry = grantExpiry(state.grant!);
    expect(expiry).toEqual({
      id: deriveId(grant.grant_id, 'expired'),
      data: {
        grant_id: grant.grant_id,
        reason: 'expired',
        result: {
          output: null,
          output_hash: sha256Canonical(null),
          error: {
            code: 'GRANT.EXPIRED',
            message: `the execution grant expired at ${grant.expires_at} without a report`,
          },
          outcome_unknown: true,
        },
      },
    });
    expect(grantExpiry({ id: grant.grant_id, expiresAt: 'later' }).id).toBe(expiry.id);
    expect(grantExpiry({ id: deriveId('byo-test', 'another grant'), expiresAt: grant.expires_at }).id).not.toBe(
      expiry.id,
    );
    const failed = evolve(state, env('execution_failed', expiry.data));
    expect(failed).toMatchObject({
      status: 'failed',
      result: { outcome_unknown: true, error: { code: 'GRANT.EXPIRED' } },
    });
  });

  it('an execution_granted for a worker run changes nothing (the run stays with the workers)', () => {
    const start = given(received());
    const [r] = react(given(received('client')), env('decision_made', decision()), ctx) as [GrantExecution];
    expect(evolve(start, env('execution_granted', { grant: r.grant, signature: 'x' })).status).toBe('received');
  });

  it.each([
    ['a tier above the maximum', decision({ tier: 3 }), /tier 3 actions run on Warden's workers only/],
    ['an enforced compute rewrite', decision({ outcome: 'compute', rewritten_action: action }), /rewritten/],
    [
      'a constraint only a worker enforces',
      decision({ constraints: { resolved_paths: { a: 'a' } } }),
      /resolved_paths/,
    ],
  ])('default deny: %s is denied under orchestrator.client-executor', (_name, d, reason) => {
    const out = react(given(received('client')), env('decision_made', d), ctx);
    expect(out).toEqual([
      {
        kind: 'event',
        type: 'run_denied',
        data: { reasons: [expect.stringMatching(reason)], rule_ids: [CLIENT_EXECUTOR_RULE] },
      },
    ]);
  });

  it('client executors are refused when the orchestrator allows none', () => {
    const out = react(given(received('client')), env('decision_made', decision()), {
      ...ctx,
      clientExecutor: undefined,
    });
    expect(out[0]).toMatchObject({ type: 'run_denied', data: { reasons: [expect.stringMatching(/disabled/)] } });
  });

  it('an escalated client run asks the approvers, and the granted approval releases a grant (not a worker)', () => {
    const d = env('decision_made', decision({ outcome: 'escalate', tier: 2 }));
    const [req] = react(given(received('client')), d, ctx);
    expect(req).toMatchObject({ type: 'approval_requested' });
    const requested = env('approval_requested', (req as unknown as { data: never }).data);
    const approvalId = (req as { data: { approval_id: string } }).data.approval_id;
    const vote = env('approval_vote', {
      approval_id: approvalId,
      operator: 'Alice',
      operator_id: 'op-1',
      vote: 'approve',
    });
    const state = given(received('client'), d, requested, vote);
    const grantEv = env('approval_granted', {
      approval_id: approvalId,
      operators: ['Alice'],
      votes: [{ vote_id: vote.id, operator_id: 'op-1', operator: 'Alice' }],
      action_hash: sha256Canonical(action),
      policy_digest: decision().policy_digest,
      tier: 2,
    });
    const out = react(state, grantEv, ctx);
    expect(out).toEqual([{ kind: 'grant', grant: expect.objectContaining({ approval_id: approvalId, action }) }]);
  });

  it('an escalation a client may never execute (tier 3) is denied before anyone is asked', () => {
    const out = react(given(received('client')), env('decision_made', decision({ outcome: 'escalate', tier: 3 })), ctx);
    expect(out[0]).toMatchObject({ type: 'run_denied', data: { rule_ids: [CLIENT_EXECUTOR_RULE] } });
  });
});
