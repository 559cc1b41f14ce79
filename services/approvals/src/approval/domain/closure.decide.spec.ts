import type { Decision } from '@warden/contracts';
import { deriveId } from '@warden/kernel';
import { decideVote, voteEventId, type ApprovalSnapshot, type VoteRecord } from './approval';
import {
  CLOSED_STATUS,
  closureData,
  decideClosure,
  isClosing,
  recheckOutcome,
  standingGrant,
  standingIdOf,
  type Closure,
} from './closure.decide';

const NOW = new Date('2026-11-21T10:00:00.000Z');
const snap = (over: Partial<ApprovalSnapshot> = {}): ApprovalSnapshot => ({
  id: 'appr-1',
  tier: 3,
  requiredVotes: 2,
  status: 'pending',
  expiresAt: '2026-11-21T11:00:00.000Z',
  agentId: 'agent-7',
  sessionId: 's1',
  votes: [],
  ...over,
});
const voted = (
  operatorId: string,
  vote: 'approve' | 'reject' = 'approve',
  over: Partial<VoteRecord> = {},
): VoteRecord => ({
  operatorId,
  operator: `${operatorId}-name`,
  vote,
  channel: 'rest',
  at: NOW.toISOString(),
  ...over,
});
const GRANTED = { kind: 'recheck' as const, verdict: { ok: true as const } };

describe('decideClosure: a reject vote', () => {
  it('given a pending approval, when an operator rejects, then it closes rejected naming that vote and its channel', () => {
    const s = snap({ votes: [voted('alice')] });
    const { vote } = decideVote(
      s,
      {
        principal: { kind: 'operator', id: 'bob', name: 'Bob', roles: ['approver'], maxTier: 3 },
        vote: 'reject',
        channel: 'slack',
      },
      NOW,
    );
    expect(decideClosure(s, { kind: 'reject', vote }, NOW)).toEqual({
      type: 'approval_rejected',
      operators: ['Bob'],
      votes: [{ vote_id: voteEventId('appr-1', 'bob'), operator_id: 'bob', operator: 'Bob' }],
      channel: 'slack',
    });
  });

  it('given an approval already closed, when a reject arrives, then nothing closes', () => {
    expect(
      decideClosure(snap({ status: 'expired' }), { kind: 'reject', vote: voted('bob', 'reject') }, NOW),
    ).toBeUndefined();
  });
});

describe('decideClosure: the policy re-check of a reached quorum', () => {
  it('given two distinct approvers on tier 3, when the policy still allows, then it grants counting each operator once', () => {
    const s = snap({
      votes: [voted('alice', 'approve', { channel: 'rest' }), voted('bob', 'approve', { channel: 'slack' })],
    });
    expect(decideClosure(s, GRANTED, NOW)).toEqual({
      type: 'approval_granted',
      operators: ['alice-name', 'bob-name'],
      votes: [
        { vote_id: voteEventId('appr-1', 'alice'), operator_id: 'alice', operator: 'alice-name' },
        { vote_id: voteEventId('appr-1', 'bob'), operator_id: 'bob', operator: 'bob-name' },
      ],
      // the channel of the vote that completed the quorum
      channel: 'slack',
    });
  });

  it('given a tier 2 approval needing one vote, when its first approve is in and the policy allows, then it grants', () => {
    const s = snap({ tier: 2, requiredVotes: 1, votes: [voted('alice', 'approve', { channel: 'dashboard' })] });
    expect(decideClosure(s, GRANTED, NOW)).toMatchObject({
      type: 'approval_granted',
      operators: ['alice-name'],
      channel: 'dashboard',
    });
  });

  it('given the same operator twice (one distinct approver), when re-checked, then the quorum of two is not in: no closure', () => {
    const s = snap({ votes: [voted('alice'), voted('alice')] });
    expect(decideClosure(s, GRANTED, NOW)).toBeUndefined();
  });

  it('given only one of two votes, when re-checked, then no closure', () => {
    expect(decideClosure(snap({ votes: [voted('alice')] }), GRANTED, NOW)).toBeUndefined();
  });

  it('given the quorum, when the policy now denies, then it voids: rejected with the reason, marked voided, no votes', () => {
    const s = snap({ votes: [voted('alice'), voted('bob', 'approve', { channel: 'cli' })] });
    expect(
      decideClosure(s, { kind: 'recheck', verdict: { ok: false, reason: 'policy now denies this action: r' } }, NOW),
    ).toEqual({
      type: 'approval_rejected',
      operators: ['alice-name', 'bob-name'],
      reason: 'policy now denies this action: r',
      channel: 'cli',
      voided: true,
    });
  });

  it('given the quorum but the approval already granted (another replica closed it), then no second closure', () => {
    expect(decideClosure(snap({ status: 'granted', votes: [voted('a'), voted('b')] }), GRANTED, NOW)).toBeUndefined();
  });

  it('given votes without a channel, then the closure carries none', () => {
    const s = snap({ requiredVotes: 1, votes: [voted('alice', 'approve', { channel: undefined })] });
    expect(decideClosure(s, GRANTED, NOW)).not.toHaveProperty('channel');
  });
});

describe('decideClosure: expiry and ended runs', () => {
  it('given a pending approval past expires_at (or at it), when the sweeper expires it, then it closes expired', () => {
    const expected: Closure = {
      type: 'approval_expired',
      operators: [],
      reason: 'no decision before 2026-11-21T11:00:00.000Z',
    };
    expect(decideClosure(snap(), { kind: 'expire' }, new Date('2026-11-21T11:00:00.000Z'))).toEqual(expected);
    expect(decideClosure(snap(), { kind: 'expire' }, new Date('2026-11-21T12:00:00.000Z'))).toEqual(expected);
  });

  it('given a pending approval not yet expired, when the sweeper looks, then no closure', () => {
    expect(decideClosure(snap(), { kind: 'expire' }, NOW)).toBeUndefined();
  });

  it('given an approval already rejected, when it expires, then no closure', () => {
    expect(decideClosure(snap({ status: 'rejected' }), { kind: 'expire' }, new Date('2027-01-01'))).toBeUndefined();
  });

  it('given a run that ended first, then it closes expired with the run status and its reason', () => {
    expect(decideClosure(snap(), { kind: 'run_ended', runStatus: 'cancelled', reason: 'by ops: stop' }, NOW)).toEqual({
      type: 'approval_expired',
      operators: [],
      reason: 'the run was cancelled (by ops: stop) before a decision',
    });
    expect(decideClosure(snap(), { kind: 'run_ended', runStatus: 'failed', reason: null }, NOW)?.reason).toBe(
      'the run was failed before a decision',
    );
    expect(
      decideClosure(snap({ status: 'granted' }), { kind: 'run_ended', runStatus: 'failed', reason: null }, NOW),
    ).toBeUndefined();
  });
});

describe('recheckOutcome', () => {
  const d = (over: Partial<Decision>): Decision =>
    ({ outcome: 'escalate', tier: 2, mode: 'enforce', reasons: ['too risky'], rule_ids: ['x'], ...over }) as Decision;

  it('voids on a refusal (4xx problem), with its detail', () => {
    expect(recheckOutcome(2, { kind: 'refused', detail: 'unknown tool' })).toEqual({
      ok: false,
      reason: 'policy re-check refused the action: unknown tool',
    });
  });

  it('judges a decision: same tier stands, an enforced deny or a higher tier voids', () => {
    expect(recheckOutcome(2, { kind: 'decision', decision: d({}) })).toEqual({ ok: true });
    expect(recheckOutcome(2, { kind: 'decision', decision: d({ outcome: 'deny' }) })).toEqual({
      ok: false,
      reason: 'policy now denies this action: too risky',
    });
    expect(recheckOutcome(2, { kind: 'decision', decision: d({ tier: 3 }) })).toEqual({
      ok: false,
      reason: 'policy now requires tier 3 (approved at tier 2)',
    });
  });
});

describe('closure event data', () => {
  const a = { id: 'appr-1', tier: 3, action_hash: 'sha256:abc', policy_digest: 'sha256:def' };

  it('a grant binds the action hash, policy digest and tier', () => {
    const c: Closure = {
      type: 'approval_granted',
      operators: ['A'],
      votes: [{ vote_id: 'v', operator_id: 'a', operator: 'A' }],
      channel: 'rest',
    };
    expect(closureData(a, c)).toEqual({
      approval_id: 'appr-1',
      operators: ['A'],
      votes: [{ vote_id: 'v', operator_id: 'a', operator: 'A' }],
      channel: 'rest',
      action_hash: 'sha256:abc',
      policy_digest: 'sha256:def',
      tier: 3,
    });
  });

  it('a void or expiry carries its reason and no binding; the voided marker is not published', () => {
    expect(closureData(a, { type: 'approval_rejected', operators: ['A'], reason: 'r', voided: true })).toEqual({
      approval_id: 'appr-1',
      operators: ['A'],
      reason: 'r',
    });
    expect(closureData(a, { type: 'approval_expired', operators: [], reason: 'late' })).toEqual({
      approval_id: 'appr-1',
      operators: [],
      reason: 'late',
    });
  });

  it('maps each closing event to its status and knows which types close', () => {
    expect(CLOSED_STATUS).toEqual({
      approval_granted: 'granted',
      approval_rejected: 'rejected',
      approval_expired: 'expired',
    });
    expect(['approval_granted', 'approval_rejected', 'approval_expired', 'approval_vote'].map(isClosing)).toEqual([
      true,
      true,
      true,
      false,
    ]);
  });
});

describe('standingGrant', () => {
  const subject = { id: 'appr-1', tier: 2, agentId: 'agent-7', sessionId: 's1', tool: 'shell.exec' };

  it('given no approving vote asked for one, then none', () => {
    expect(
      standingGrant(
        subject,
        [voted('a'), voted('b', 'reject', { standing: { scope: 'agent', ttl_seconds: 60 } })],
        NOW,
      ),
    ).toBeUndefined();
  });

  it('given votes asking, then the narrowest scope and shortest time from now, granted by the approvers', () => {
    const votes = [
      voted('a', 'approve', { standing: { scope: 'agent', ttl_seconds: 600 } }),
      voted('b', 'approve', { standing: { scope: 'session', ttl_seconds: 7200 } }),
    ];
    expect(standingGrant(subject, votes, NOW)).toEqual({
      standing_id: deriveId('appr-1', 'standing'),
      approval_id: 'appr-1',
      scope: 'session',
      agent_id: 'agent-7',
      session_id: 's1',
      tool: 'shell.exec',
      max_tier: 2,
      expires_at: '2026-11-21T10:10:00.000Z',
      granted_by: ['a-name', 'b-name'],
    });
    expect(standingIdOf('appr-1')).toBe(deriveId('appr-1', 'standing'));
  });

  it('an agent-scoped standing approval names no session', () => {
    const votes = [voted('a', 'approve', { standing: { scope: 'agent', ttl_seconds: 60 } })];
    expect(standingGrant(subject, votes, NOW)).not.toHaveProperty('session_id');
  });
});
