import { makeEnvelope } from '@warden/bus';
import { newId } from '@warden/kernel';
import { bindingAdmits, bindingErrors, globMatches, type Principal } from './auth';
import { IdentityState, newSecret, secretHash } from './identity';

const key = (binding?: Principal['binding']): Principal => ({
  kind: 'api_key',
  id: newId(),
  name: 'k',
  roles: [],
  maxTier: 0,
  ...(binding ? { binding } : {}),
});

describe('bindingAdmits', () => {
  it('a key bound to one agent speaks for exactly that agent id and role', () => {
    const p = key({ agent: { id: 'agent-7', role: 'dev' } });
    expect(bindingAdmits(p, { id: 'agent-7', role: 'dev' })).toBe('ok');
    expect(bindingAdmits(p, { id: 'agent-8', role: 'dev' })).toBe('outside');
    expect(bindingAdmits(p, { id: 'agent-7', role: 'ops' })).toBe('outside');
    expect(bindingErrors(p, { id: 'agent-8', role: 'ops' }).map((e) => e.path)).toEqual(['agent.id', 'agent.role']);
    expect(bindingErrors(p, { id: 'agent-7', role: 'ops' }).map((e) => e.path)).toEqual(['agent.role']);
  });

  it('a harness key admits its roles for agent ids matching its pattern', () => {
    const p = key({ roles: ['dev', 'research'], agentPattern: 'harness-*' });
    expect(bindingAdmits(p, { id: 'harness-1', role: 'dev' })).toBe('ok');
    expect(bindingAdmits(p, { id: 'harness-', role: 'research' })).toBe('ok');
    expect(bindingAdmits(p, { id: 'harness-1', role: 'ops' })).toBe('outside');
    expect(bindingAdmits(p, { id: 'other-1', role: 'dev' })).toBe('outside');
    expect(bindingAdmits(p, { id: 'xharness-1', role: 'dev' })).toBe('outside');
    expect(bindingErrors(p, { id: 'other-1', role: 'dev' })).toEqual([
      { path: 'agent.id', message: expect.stringContaining('harness-*') },
    ]);
    // roles without a pattern: any agent id, only those roles
    expect(bindingAdmits(key({ roles: ['dev'] }), { id: 'anyone', role: 'dev' })).toBe('ok');
    expect(bindingAdmits(key({ roles: ['dev'] }), { id: 'anyone', role: 'ops' })).toBe('outside');
  });

  it('a key without a binding (legacy) is unbound, whatever it names', () => {
    expect(bindingAdmits(key(), { id: 'x', role: 'ops' })).toBe('unbound');
    expect(bindingAdmits(key({}), { id: 'x', role: 'ops' })).toBe('unbound');
    expect(bindingErrors(key(), { id: 'x', role: 'ops' })).toEqual([]);
  });
});

describe('globMatches', () => {
  it.each([
    ['harness-*', 'harness-1', true],
    ['harness-*', 'harness-', true],
    ['harness-*', 'harnes-1', false],
    ['*-bot', 'ci-bot', true],
    ['*-bot', 'ci-bot-2', false],
    ['a*b*c', 'abc', true],
    ['a*b*c', 'axxbyyc', true],
    ['a*b*c', 'acb', false],
    ['a*a', 'a', false],
    ['exact', 'exact', true],
    ['exact', 'exactly', false],
    ['*', '', true],
    ['h.?[x]', 'h.?[x]', true],
    ['h.?[x]', 'h1a[x]', false],
  ])('%s matches %s: %s', (pattern, value, want) => {
    expect(globMatches(pattern, value)).toBe(want);
  });
});

describe('IdentityState carries a key binding to the principal', () => {
  const at = new Date();
  const created = (data: Record<string, unknown>) => {
    const token = newSecret('wk');
    const keyId = newId();
    const s = new IdentityState();
    s.apply(
      makeEnvelope({
        type: 'api_key_created',
        runId: null,
        correlationId: keyId,
        producer: 'ingest',
        traceId: '0af7651916cd43dd8448eb211c80319c',
        occurredAt: at,
        data: { key_id: keyId, name: 'k', owner: 'o', key_hash: secretHash(token), created_by: 'admin', ...data },
      }),
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
