import { DomainError, newId } from '@warden/kernel';
import {
  admits,
  agentMismatch,
  bearerToken,
  bindingAdmits,
  bindingErrors,
  forbidden,
  globMatches,
  hasRole,
  hashToken,
  safeEqual,
  unauthenticated,
  type Principal,
  type Role,
} from './auth';

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
  it('an empty requirement admits any operator and no API key', () => {
    expect(admits({}, op)).toBe(true);
    expect(admits({}, key)).toBe(false);
  });
});

describe('hasRole', () => {
  const op = (roles: Role[]): Principal => ({ kind: 'operator', id: '1', name: 'o', roles, maxTier: 1 });
  it('a role admits itself and every lower one, never a higher one', () => {
    expect(hasRole(op(['admin']), 'viewer')).toBe(true);
    expect(hasRole(op(['admin']), 'approver')).toBe(true);
    expect(hasRole(op(['approver']), 'approver')).toBe(true);
    expect(hasRole(op(['approver']), 'admin')).toBe(false);
    expect(hasRole(op(['viewer']), 'approver')).toBe(false);
  });
  it('any one role is enough; no roles admit nothing', () => {
    expect(hasRole(op(['viewer', 'admin']), 'admin')).toBe(true);
    expect(hasRole(op([]), 'viewer')).toBe(false);
  });
});

describe('tokens', () => {
  it('hashToken is the SHA-256 hex of the token', () => {
    expect(hashToken('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
  it('safeEqual is true only for the identical string, whatever the lengths', () => {
    expect(safeEqual('wop_secret', 'wop_secret')).toBe(true);
    expect(safeEqual('wop_secret', 'wop_secreT')).toBe(false);
    expect(safeEqual('wop_secret', 'wop_secret2')).toBe(false);
    expect(safeEqual('', 'x')).toBe(false);
    expect(safeEqual('', '')).toBe(true);
  });
  it.each<[string | undefined, string | undefined]>([
    ['Bearer wk_abc', 'wk_abc'],
    ['bearer   wk_abc  ', 'wk_abc'],
    [undefined, undefined],
    ['', undefined],
    ['Bearer ', undefined],
    ['Basic d2s6YWJj', undefined],
    ['Bearer wk_abc extra', undefined],
    ['wk_abc', undefined],
  ])('bearerToken(%p) is %p', (header, want) => {
    expect(bearerToken(header)).toBe(want);
  });
});

describe('auth errors', () => {
  it('401 and 403 carry stable codes; a 403 names the role it needs', () => {
    expect(unauthenticated()).toMatchObject({
      code: 'AUTH.UNAUTHENTICATED',
      message: 'a valid bearer token is required',
    });
    expect(forbidden('approver')).toMatchObject({ code: 'AUTH.FORBIDDEN', message: 'requires role approver' });
    expect(forbidden('approver')).toBeInstanceOf(DomainError);
  });
  it('agentMismatch names every field outside the binding, and says so plainly without fields', () => {
    const errors = bindingErrors(key({ agent: { id: 'agent-7', role: 'dev' } }), { id: 'agent-8', role: 'ops' });
    const e = agentMismatch(errors);
    expect(e.code).toBe('KEY.AGENT_MISMATCH');
    expect(e.message).toBe(
      'agent.id: this API key speaks for agent "agent-7" only; agent.role: this API key speaks for role "dev" only',
    );
    expect(e.details).toEqual({ errors });
    expect(agentMismatch([]).message).toBe('the submission names an agent this API key does not speak for');
  });
});
