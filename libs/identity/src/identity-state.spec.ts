import type { Envelope, EventData, EventType } from '@warden/contracts';
import { newId } from '@warden/kernel';
import { bindingAdmits } from './auth';
import { IdentityState, newSecret, secretHash } from './identity-state';

const TRACE = '0af7651916cd43dd8448eb211c80319c';
/** A directory event as the stream delivers it (plain data: the fold needs no bus). */
function ev<T extends EventType>(type: T, id: string, data: EventData<T>, at = new Date()): Envelope<T> {
  return {
    id: newId(),
    type,
    version: 1,
    run_id: null,
    occurred_at: at.toISOString(),
    producer: 'test',
    correlation_id: id,
    causation_id: null,
    trace_id: TRACE,
    data,
  };
}

describe('IdentityState', () => {
  const opToken = newSecret('wop');
  const opId = newId();
  const keyToken = newSecret('wk');
  const keyId = newId();

  function world(bootstrap?: string): IdentityState {
    const s = new IdentityState(bootstrap);
    s.apply(
      ev('operator_created', opId, {
        operator_id: opId,
        name: 'alice',
        roles: ['approver'],
        max_tier: 2,
        slack_user_id: 'U1',
        token_hash: secretHash(opToken),
        created_by: 'bootstrap-admin',
      }),
    );
    s.apply(
      ev('api_key_created', keyId, {
        key_id: keyId,
        name: 'ci',
        owner: 'team-a',
        key_hash: secretHash(keyToken),
        created_by: 'bootstrap-admin',
      }),
    );
    return s;
  }

  it('authenticates operators and API keys by token, never by a wrong one', () => {
    const s = world();
    expect(s.authenticate(opToken)).toMatchObject({ kind: 'operator', id: opId, roles: ['approver'], maxTier: 2 });
    expect(s.authenticate(keyToken)).toMatchObject({ kind: 'api_key', id: keyId, owner: 'team-a', roles: [] });
    expect(s.authenticate(newSecret('wop'))).toBeUndefined();
    expect(s.authenticate(opToken + 'x')).toBeUndefined();
  });

  it('the bootstrap token is an admin only when configured', () => {
    expect(world('b'.repeat(32)).authenticate('b'.repeat(32))).toMatchObject({ kind: 'bootstrap', roles: ['admin'] });
    expect(world().authenticate('b'.repeat(32))).toBeUndefined();
  });

  it('a revoked operator or key no longer authenticates', () => {
    const s = world();
    s.apply(ev('operator_revoked', opId, { operator_id: opId, by: 'admin' }));
    s.apply(ev('api_key_revoked', keyId, { key_id: keyId, by: 'admin' }));
    expect(s.authenticate(opToken)).toBeUndefined();
    expect(s.authenticate(keyToken)).toBeUndefined();
    expect(s.operator(opId)?.revoked).toBe(true);
    expect(s.apiKeys()[0]!.revoked_at).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('a scheduled revoke (rotation grace) keeps the key valid until effective_at', () => {
    const s = world();
    const at = new Date(Date.now() + 60_000);
    s.apply(ev('api_key_revoked', keyId, { key_id: keyId, by: 'admin', effective_at: at.toISOString() }));
    expect(s.authenticate(keyToken, new Date())).toMatchObject({ kind: 'api_key', id: keyId });
    expect(s.authenticate(keyToken, new Date(at.getTime() + 1))).toBeUndefined();
    // a later, immediate revoke brings it forward
    s.apply(ev('api_key_revoked', keyId, { key_id: keyId, by: 'admin' }));
    expect(s.authenticate(keyToken)).toBeUndefined();
  });

  it('an expired key does not authenticate', () => {
    const s = new IdentityState();
    const k = newSecret('wk');
    const id = newId();
    s.apply(
      ev('api_key_created', id, {
        key_id: id,
        name: 'old',
        owner: 'o',
        key_hash: secretHash(k),
        expires_at: new Date(Date.now() - 1000).toISOString(),
        created_by: 'a',
      }),
    );
    expect(s.authenticate(k)).toBeUndefined();
  });

  it('finds operators by Slack user, ignoring revoked ones', () => {
    const s = world();
    expect(s.operatorBySlackUser('U1')?.id).toBe(opId);
    expect(s.operatorBySlackUser('U2')).toBeUndefined();
    s.apply(ev('operator_revoked', opId, { operator_id: opId, by: 'admin' }));
    expect(s.operatorBySlackUser('U1')).toBeUndefined();
  });

  it('refuses an ambiguous Slack mapping: two active operators on one Slack user resolve to none', () => {
    const s = world();
    const second = newId();
    s.apply(
      ev('operator_created', second, {
        operator_id: second,
        name: 'mallory',
        roles: ['admin'],
        max_tier: 3,
        slack_user_id: 'U1',
        token_hash: secretHash(newSecret('wop')),
        created_by: 'bootstrap-admin',
      }),
    );
    expect(s.operatorBySlackUser('U1')).toBeUndefined();
    expect(s.operatorsBySlackUser('U1').map((p) => p.id)).toEqual([opId, second]);
    // once one of them is revoked, the mapping is unambiguous again
    s.apply(ev('operator_revoked', opId, { operator_id: opId, by: 'admin' }));
    expect(s.operatorBySlackUser('U1')?.id).toBe(second);
  });

  it('lists standing approvals in force: not expired, not revoked', () => {
    const s = new IdentityState();
    const a = newId();
    const b = newId();
    const base = {
      approval_id: newId(),
      scope: 'agent' as const,
      agent_id: 'agent-7',
      tool: 'git.push',
      max_tier: 2 as const,
    };
    s.apply(
      ev('standing_approval_granted', a, {
        ...base,
        standing_id: a,
        expires_at: new Date(Date.now() + 60_000).toISOString(),
        granted_by: ['alice'],
      }),
    );
    s.apply(
      ev('standing_approval_granted', b, {
        ...base,
        standing_id: b,
        expires_at: new Date(Date.now() - 1).toISOString(),
        granted_by: ['alice'],
      }),
    );
    expect(s.standingApprovals().map((x) => x.standing_id)).toEqual([a]);
    s.apply(ev('standing_approval_revoked', a, { standing_id: a, by: 'bob' }));
    expect(s.standingApprovals()).toEqual([]);
    expect(s.allStandingApprovals()).toHaveLength(2);
  });
});

describe('secrets', () => {
  it('are 256-bit, prefixed, distinct, and hashed as sha256:<hex>', () => {
    const a = newSecret('wk');
    expect(a).toMatch(/^wk_[A-Za-z0-9_-]{43}$/);
    expect(newSecret('whsec')).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(newSecret('wk')).not.toBe(a);
    expect(secretHash(a)).toMatch(/^sha256:[0-9a-f]{64}$/);
  });
});

describe('IdentityState carries a key binding to the principal', () => {
  const at = new Date();
  const created = (data: Record<string, unknown>) => {
    const token = newSecret('wk');
    const keyId = newId();
    const s = new IdentityState();
    s.apply(
      ev(
        'api_key_created',
        keyId,
        { key_id: keyId, name: 'k', owner: 'o', key_hash: secretHash(token), created_by: 'admin', ...data },
        at,
      ),
    );
    return { s, token };
  };

  it('an agent binding, a roles + pattern binding, and none', () => {
    const one = created({ agent: { id: 'agent-7', role: 'dev' } });
    expect(one.s.authenticate(one.token)?.binding).toEqual({ agent: { id: 'agent-7', role: 'dev' } });
    expect(one.s.apiKeys()[0]).toMatchObject({ agent: { id: 'agent-7', role: 'dev' } });
    const harness = created({ roles: ['dev', 'research'], agent_pattern: 'h-*' });
    expect(harness.s.authenticate(harness.token)?.binding).toEqual({ roles: ['dev', 'research'], agentPattern: 'h-*' });
    expect(harness.s.apiKeys()[0]).toMatchObject({ roles: ['dev', 'research'], agent_pattern: 'h-*' });
    const legacy = created({});
    expect(legacy.s.authenticate(legacy.token)).not.toHaveProperty('binding');
    expect(bindingAdmits(legacy.s.authenticate(legacy.token)!, { id: 'a', role: 'ops' })).toBe('unbound');
  });
});
