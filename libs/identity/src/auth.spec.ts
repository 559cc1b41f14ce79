import { newId } from '@warden/kernel';
import { admits, bindingAdmits, bindingErrors, globMatches, type Principal } from './auth';

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

describe('admits', () => {
  const op = { kind: 'operator' as const, id: '1', name: 'v', roles: ['viewer' as const], maxTier: 1 };
  const key = { kind: 'api_key' as const, id: '2', name: 'k', roles: [], maxTier: 0 };
  it('API-key routes admit keys only; role routes admit operators with the role', () => {
    expect(admits({ apiKey: true }, key)).toBe(true);
    expect(admits({ apiKey: true }, op)).toBe(false);
    expect(admits({ role: 'viewer' }, key)).toBe(false);
    expect(admits({ role: 'viewer' }, op)).toBe(true);
    expect(admits({ role: 'approver' }, op)).toBe(false);
    expect(admits({ apiKey: true, role: 'viewer' }, op)).toBe(true);
    expect(admits({ apiKey: true, role: 'viewer' }, key)).toBe(true);
  });
});
