import type { Decision } from '@warden/contracts';
import { ROLES, hasRole, type Principal } from '@warden/identity';
import {
  approvers,
  decideVote,
  escalationDueAt,
  mayVote,
  recheckVerdict,
  standingFrom,
  type ApprovalSnapshot,
  type VoteRecord,
} from './approval';

const NOW = new Date('2026-11-21T10:00:00.000Z');
const op = (id: string, over: Partial<Principal> = {}): Principal => ({
  kind: 'operator',
  id,
  name: id,
  roles: ['approver'],
  maxTier: 3,
  ...over,
});
const snap = (over: Partial<ApprovalSnapshot> = {}): ApprovalSnapshot => ({
  id: 'a',
  tier: 3,
  requiredVotes: 2,
  status: 'pending',
  expiresAt: '2026-11-21T11:00:00.000Z',
  agentId: 'agent-7',
  sessionId: 's1',
  votes: [],
  ...over,
});
const voted = (operatorId: string, vote: 'approve' | 'reject' = 'approve'): VoteRecord => ({
  operatorId,
  operator: operatorId,
  vote,
  at: NOW.toISOString(),
});
const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return (err as { code: string }).code;
  }
  return 'none';
};

describe('decideVote (given an approval / when a vote / then)', () => {
  it('counts tier 3 approvals until two distinct operators agree', () => {
    expect(decideVote(snap(), { principal: op('alice'), vote: 'approve', channel: 'rest' }, NOW).outcome).toBe(
      'pending',
    );
    const r = decideVote(
      snap({ votes: [voted('alice')] }),
      { principal: op('bob'), vote: 'approve', channel: 'slack' },
      NOW,
    );
    expect(r).toEqual({
      outcome: 'quorum',
      vote: { operatorId: 'bob', operator: 'bob', vote: 'approve', channel: 'slack', at: NOW.toISOString() },
    });
  });

  it('given a tier 2 approval needing one vote, when the first approve comes, then the quorum is in', () => {
    expect(
      decideVote(snap({ tier: 2, requiredVotes: 1 }), { principal: op('alice'), vote: 'approve', channel: 'rest' }, NOW)
        .outcome,
    ).toBe('quorum');
  });

  it('given a run that ended while the approval was open, when a vote comes, then 409 ALREADY_DECIDED naming the status', () => {
    const v = { principal: op('carol'), vote: 'approve' as const, channel: 'rest' as const };
    expect(() => decideVote(snap({ runEnded: 'cancelled' }), v, NOW)).toThrow(
      expect.objectContaining({
        code: 'APPROVAL.ALREADY_DECIDED',
        message: 'the run has ended (cancelled); this approval is closed',
        details: { status: 'cancelled' },
      }),
    );
  });

  it('lets exactly the roles vote that hasRole(p, "approver") admits (the runtime ranking)', () => {
    for (const roles of [[], ...ROLES.map((r) => [r]), ['viewer', 'admin']] as Principal['roles'][])
      expect([roles, mayVote(op('x', { roles }))]).toEqual([roles, hasRole(op('x', { roles }), 'approver')]);
  });

  it('rejects on one reject', () => {
    expect(decideVote(snap(), { principal: op('bob'), vote: 'reject', channel: 'cli' }, NOW).outcome).toBe('rejected');
  });

  it('refuses a second vote by the same operator, even under another display name', () => {
    const s = snap({ votes: [voted('alice')] });
    expect(
      code(() => decideVote(s, { principal: op('alice', { name: 'Alice 2' }), vote: 'approve', channel: 'rest' }, NOW)),
    ).toBe('APPROVAL.ALREADY_VOTED');
  });

  it('refuses roles below approver, API keys, a max_tier below the tier, and the requesting agent', () => {
    const cases: [Principal, string][] = [
      [op('v', { roles: ['viewer'] }), 'AUTH.FORBIDDEN'],
      [op('k', { kind: 'api_key', roles: [], maxTier: 0 }), 'AUTH.FORBIDDEN'],
      [op('low', { maxTier: 2 }), 'AUTH.FORBIDDEN'],
      [op('agent-7'), 'AUTH.FORBIDDEN'],
      [op('x', { name: 'agent-7' }), 'AUTH.FORBIDDEN'],
      [op('admin', { roles: ['admin'] }), 'none'],
    ];
    for (const [p, expected] of cases)
      expect([p.id, code(() => decideVote(snap(), { principal: p, vote: 'approve', channel: 'rest' }, NOW))]).toEqual([
        p.id,
        expected,
      ]);
  });

  it('refuses votes once closed, expired, or once the quorum is in', () => {
    const v = { principal: op('carol'), vote: 'approve' as const, channel: 'rest' as const };
    expect(code(() => decideVote(snap({ status: 'granted' }), v, NOW))).toBe('APPROVAL.ALREADY_DECIDED');
    expect(code(() => decideVote(snap({ expiresAt: NOW.toISOString() }), v, NOW))).toBe('APPROVAL.ALREADY_DECIDED');
    expect(code(() => decideVote(snap({ votes: [voted('a'), voted('b')] }), v, NOW))).toBe('APPROVAL.ALREADY_DECIDED');
  });

  it('validates a standing request with field paths', () => {
    const v = (standing: { scope: 'session' | 'agent'; ttl_seconds: number }, vote: 'approve' | 'reject' = 'approve') =>
      decideVote(snap({ sessionId: undefined }), { principal: op('alice'), vote, channel: 'rest', standing }, NOW);
    expect(() => v({ scope: 'session', ttl_seconds: 60 })).toThrow(
      expect.objectContaining({ errors: [expect.objectContaining({ path: 'standing.scope' })] }),
    );
    expect(() => v({ scope: 'agent', ttl_seconds: 0 })).toThrow(
      expect.objectContaining({ errors: [expect.objectContaining({ path: 'standing.ttl_seconds' })] }),
    );
    expect(() => v({ scope: 'agent', ttl_seconds: 60 }, 'reject')).toThrow(
      expect.objectContaining({ errors: [expect.objectContaining({ path: 'standing' })] }),
    );
    expect(v({ scope: 'agent', ttl_seconds: 60 }).vote.standing).toEqual({ scope: 'agent', ttl_seconds: 60 });
  });
});

describe('approval helpers', () => {
  it('lists distinct approvers by operator id', () => {
    expect(approvers([voted('a'), voted('b', 'reject'), voted('c'), voted('a')])).toEqual(['a', 'c']);
  });

  it('takes the narrowest standing scope and the shortest time asked for', () => {
    expect(standingFrom([voted('a')])).toBeUndefined();
    expect(
      standingFrom([
        { ...voted('a'), standing: { scope: 'agent', ttl_seconds: 600 } },
        { ...voted('b'), standing: { scope: 'session', ttl_seconds: 7200 } },
      ]),
    ).toEqual({ scope: 'session', ttl_seconds: 600 });
  });

  it('voids a grant when the policy now denies (enforced) or needs a higher tier', () => {
    const d = (over: Partial<Decision>): Decision =>
      ({ outcome: 'escalate', tier: 2, mode: 'enforce', reasons: ['r'], rule_ids: ['x'], ...over }) as Decision;
    expect(recheckVerdict(2, d({}))).toEqual({ ok: true });
    expect(recheckVerdict(2, d({ outcome: 'allow', tier: 1 }))).toEqual({ ok: true });
    expect(recheckVerdict(2, d({ outcome: 'deny' }))).toEqual({ ok: false, reason: expect.stringContaining('denies') });
    expect(recheckVerdict(2, d({ outcome: 'deny', mode: 'observe' }))).toEqual({ ok: true });
    expect(recheckVerdict(2, d({ tier: 3 }))).toEqual({ ok: false, reason: expect.stringContaining('tier 3') });
  });

  it('puts the escalation at the configured fraction of the wait', () => {
    expect(escalationDueAt('2026-11-21T10:00:00.000Z', '2026-11-21T12:00:00.000Z', 0.5).toISOString()).toBe(
      '2026-11-21T11:00:00.000Z',
    );
  });
});
