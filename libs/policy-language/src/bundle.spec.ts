/* eslint-disable @typescript-eslint/no-explicit-any -- the tests edit parsed YAML freely */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { ValidationError, type FieldError } from '@warden/kernel';
import { loadBundle, parseBundle } from './bundle';

const DEFAULT_YAML = readFileSync(resolve(__dirname, '../../../deploy/policies/default.yaml'), 'utf8');

function errorsOf(fn: () => unknown): FieldError[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return (err as ValidationError).errors;
  }
  throw new Error('expected a ValidationError');
}

/** The default bundle, edited. */
function edited(edit: (raw: Record<string, any>) => void): Record<string, any> {
  const raw = parse(DEFAULT_YAML) as Record<string, any>;
  edit(raw);
  return raw;
}

describe('the shipped default bundle', () => {
  it('parses, with its version, tiers and mode', () => {
    const { bundle, digest } = parseBundle(DEFAULT_YAML);
    expect(bundle.version).toBe('2026-12-03.1');
    expect(bundle.mode).toBe('enforce');
    expect(bundle.tiers['2'].required_votes).toBe(1);
    expect(bundle.tiers['3'].required_votes).toBe(2);
    expect(bundle.budgets.session).toMatchObject({ tier: 2, window_seconds: 86400 });
    expect(Object.keys(bundle.roles)).toEqual(expect.arrayContaining(['dev', 'research', 'outreach']));
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('has the same digest as YAML or as JSON, whatever the key order and comments', () => {
    const raw = parse(DEFAULT_YAML) as Record<string, unknown>;
    const reordered = Object.fromEntries(Object.entries(raw).reverse());
    expect(parseBundle(JSON.stringify(reordered)).digest).toBe(parseBundle(DEFAULT_YAML).digest);
    expect(loadBundle(raw).digest).toBe(parseBundle(DEFAULT_YAML).digest);
  });

  it('changes digest when any rule changes', () => {
    const other = edited((raw) => {
      raw.rules[0].reason = 'changed';
    });
    expect(loadBundle(other).digest).not.toBe(parseBundle(DEFAULT_YAML).digest);
  });
});

describe('bundle validation names every problem with its path', () => {
  it.each<[string, (raw: Record<string, any>) => void, FieldError]>([
    [
      'missing version',
      (r) => delete r.version,
      { path: 'version', message: expect.stringContaining('expected string') },
    ],
    ['bad mode', (r) => (r.mode = 'audit'), { path: 'mode', message: expect.stringContaining('enforce') }],
    [
      'escalate without a tier',
      (r) => delete r.rules[4].tier,
      { path: 'rules.4.tier', message: 'escalate needs tier 2 or 3' },
    ],
    ['deny with tier 3', (r) => (r.rules[0].tier = 3), { path: 'rules.0.tier', message: 'deny is always tier 1' }],
    ['unknown rule field', (r) => (r.rules[1].outcom = 'deny'), { path: 'rules.1.outcom', message: 'unknown field' }],
    [
      'unknown outcome',
      (r) => (r.rules[1].outcome = 'maybe'),
      { path: 'rules.1.outcome', message: expect.any(String) },
    ],
    [
      'duplicate rule id',
      (r) => (r.rules[2].id = r.rules[0].id),
      { path: 'rules.2.id', message: 'duplicate rule id "secrets-read" (also rules.0.id)' },
    ],
    [
      'reserved rule id',
      (r) => (r.rules[0].id = 'default-deny'),
      { path: 'rules.0.id', message: 'is reserved for a built-in rule' },
    ],
    [
      'bad tool glob',
      (r) => (r.roles.dev.tools = ['FS.*']),
      { path: 'roles.dev.tools.0', message: expect.stringContaining('tool name or glob') },
    ],
    [
      'bad role name',
      (r) => (r.roles['Dev Team'] = { tools: [] }),
      { path: 'roles.Dev Team', message: expect.stringContaining('role name') },
    ],
    [
      'bad regex',
      (r) => (r.rules[2].when.any[1].any_arg.matches = '(unclosed'),
      { path: 'rules.2.when.any.1.any_arg.matches', message: expect.stringContaining('invalid regular expression') },
    ],
    [
      'condition with two operators',
      (r) => (r.rules[2].when.any[0] = { arg: 'force', equals: true, exists: true }),
      {
        path: 'rules.2.when.any.0',
        message: expect.stringContaining('exactly one of equals, in, matches, contains, exists (got equals, exists)'),
      },
    ],
    [
      'condition of no known kind',
      (r) => (r.rules[3].when = { path_over: 'prod/' }),
      { path: 'rules.3.when', message: 'a condition needs exactly one of all, any, not, arg, any_arg, path_under' },
    ],
    [
      'path_under escaping',
      (r) => (r.rules[3].when = { path_under: '../prod' }),
      { path: 'rules.3.when.path_under', message: expect.stringContaining('relative path') },
    ],
    [
      'tier 3 fewer votes than tier 2',
      (r) => (r.tiers['3'].required_votes = 0),
      { path: 'tiers.3.required_votes', message: expect.stringContaining('tier 2') },
    ],
    ['missing tier', (r) => delete r.tiers['2'], { path: 'tiers.2', message: expect.any(String) }],
    [
      'budget without limits',
      (r) => (r.budgets.session = { tier: 2 }),
      { path: 'budgets.session', message: 'needs max_calls, max_tokens or max_cost_usd' },
    ],
    [
      'negative budget',
      (r) => (r.budgets.session.max_calls = -1),
      { path: 'budgets.session.max_calls', message: expect.any(String) },
    ],
    ['no rules', (r) => (r.rules = []), { path: 'rules', message: expect.any(String) }],
  ])('%s', (_name, edit, expected) => {
    const errors = errorsOf(() => loadBundle(edited(edit)));
    expect(errors).toContainEqual(expected);
  });

  it('reports several problems at once', () => {
    const errors = errorsOf(() =>
      loadBundle(
        edited((r) => {
          delete r.version;
          r.rules[0].tier = 3;
        }),
      ),
    );
    expect(errors.map((e) => e.path)).toEqual(expect.arrayContaining(['version', 'rules.0.tier']));
  });

  it('reports YAML syntax errors with their line, and duplicate keys', () => {
    expect(errorsOf(() => parseBundle('version: "1"\nrules: [\n'))[0]).toMatchObject({
      path: '',
      message: expect.stringMatching(/^YAML: .*line \d+, column \d+/),
    });
    expect(errorsOf(() => parseBundle('version: "1"\nversion: "2"\n'))[0]!.message).toMatch(/unique/);
  });

  it('refuses a document that is not a mapping, or too large', () => {
    expect(errorsOf(() => parseBundle('- a\n- b\n'))).toEqual([
      { path: '', message: expect.stringContaining('must be a mapping') },
    ]);
    expect(errorsOf(() => parseBundle(`# ${'x'.repeat(1024 * 1024)}`))[0]!.message).toMatch(/larger than/);
  });

  it('the error message lists each path', () => {
    try {
      loadBundle(edited((r) => delete r.rules[4].tier));
    } catch (err) {
      expect((err as Error).message).toContain('rules.4.tier: escalate needs tier 2 or 3');
    }
    expect.assertions(1);
  });
});
