import type { Decision } from '@warden/contracts';
import { DEFAULT_PROD_PATH, parseMarkedClasses, sensitiveClasses, toolMatches } from './sensitivity';

const rules = {
  marked: parseMarkedClasses('payments=payments.*|stripe.charge,deploys=deploy.canary'),
  prodPath: DEFAULT_PROD_PATH,
};
const decision = (tier: 1 | 2 | 3, constraints: Record<string, unknown> = {}) =>
  ({ tier, constraints }) as Pick<Decision, 'tier' | 'constraints'>;

describe('sensitive operation classes (bounded metric labels)', () => {
  it('names tier 2 and 3 decisions, secrets and outbound network', () => {
    expect(sensitiveClasses({ tool: 'fs.read_file', args: { path: 'notes/a.md' } }, decision(1), rules)).toEqual([]);
    expect(sensitiveClasses({ tool: 'secrets.read', args: { name: 'db' } }, decision(2), rules)).toEqual([
      'secrets',
      'tier_2',
    ]);
    expect(sensitiveClasses({ tool: 'http.get', args: { url: 'https://example.com' } }, decision(1), rules)).toEqual([
      'network',
    ]);
    // a tool that is not network by name but was granted hosts
    expect(
      sensitiveClasses({ tool: 'shell.exec', args: {} }, decision(1, { allowed_hosts: ['api.example.com'] }), rules),
    ).toEqual(['network']);
  });

  it('finds production resources in resource-naming arguments only, never in content', () => {
    expect(sensitiveClasses({ tool: 'fs.write_file', args: { path: 'prod/config.txt' } }, decision(3), rules)).toEqual([
      'prod_path',
      'tier_3',
    ]);
    expect(
      sensitiveClasses(
        { tool: 'fs.write_file', args: { path: 'notes/a.md', content: 'deploy to prod/' } },
        decision(1),
        rules,
      ),
    ).toEqual([]);
    expect(sensitiveClasses({ tool: 'fs.read_file', args: { path: 'products/list.md' } }, decision(1), rules)).toEqual(
      [],
    );
  });

  it('adds the classes an operator marks', () => {
    expect(sensitiveClasses({ tool: 'payments.refund', args: {} }, decision(1), rules)).toEqual(['payments']);
    expect(sensitiveClasses({ tool: 'deploy.canary', args: {} }, decision(2), rules)).toEqual([
      'deploys',
      'network',
      'tier_2',
    ]);
  });

  it('matches tools, namespaces and everything', () => {
    expect(toolMatches('git.push', 'git.*')).toBe(true);
    expect(toolMatches('gitx.push', 'git.*')).toBe(false);
    expect(toolMatches('git.push', '*')).toBe(true);
    expect(toolMatches('git.push', 'git.pull')).toBe(false);
  });

  it('refuses a malformed WARDEN_SENSITIVE_TOOLS entry, naming it', () => {
    expect(parseMarkedClasses(undefined)).toEqual({});
    expect(() => parseMarkedClasses('Payments=payments.*')).toThrow(/"Payments=payments.\*"/);
    expect(() => parseMarkedClasses('payments=pay ments')).toThrow(/a pattern is/);
  });
});
