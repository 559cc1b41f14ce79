/* eslint-disable @typescript-eslint/no-explicit-any -- the tests build bundles freely */
import { ValidationError, type FieldError } from '@warden/kernel';
import { globTest, globsMatcher, re2Problem, withBudget, checkBudget, BudgetExceededError } from './bounded';
import { MAX_BUNDLE_DEPTH, loadBundle, parseBundle, tooDeep, type LoadedBundle } from './bundle';
import { evaluate, type PolicyInput } from './evaluate';

const NOW = new Date('2026-11-21T10:00:00.000Z');
const TIERS = { 1: { required_votes: 0 }, 2: { required_votes: 1 }, 3: { required_votes: 2 } };

function bundle(rules: any[]): LoadedBundle {
  return loadBundle({ version: 't', tiers: TIERS, roles: { dev: { tools: ['x.*'] } }, rules });
}

function input(args: Record<string, unknown>, agentId = 'agent-7'): PolicyInput {
  return {
    agent: { id: agentId, role: 'dev' },
    session_id: null,
    action: { tool: 'x.run', args },
    usage: null,
    session_usage: null,
    agent_usage: null,
    rate: null,
    failures: 0,
    standing: [],
  };
}

function errorsOf(fn: () => unknown): FieldError[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return (err as ValidationError).errors;
  }
  throw new Error('expected a ValidationError');
}

/** Milliseconds `fn` takes (best of `runs`, so a GC pause does not count). */
function timed(fn: () => unknown, runs = 3): number {
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    fn();
    best = Math.min(best, performance.now() - t);
  }
  return best;
}

const EVIL = '^(a+)+$';

describe('regular expressions run in linear time (RE2)', () => {
  // the backtracking engine on a short input, measured here so the bound holds on any machine
  const baseline = timed(() => new RegExp(EVIL).test('a'.repeat(23) + 'b'), 1);

  it('a CEL .matches that backtracks catastrophically decides 100,000 characters faster than backtracking decides 23', () => {
    const policy = bundle([
      { id: 'evil', tools: ['x.run'], if: `args.s.matches("${EVIL}")`, outcome: 'deny', reason: 'r' },
      { id: 'ok', tools: ['x.run'], outcome: 'allow', reason: 'r' },
    ]);
    const long = input({ s: 'a'.repeat(100_000) + 'b' });
    expect(evaluate(policy, long, NOW).rule_ids).toEqual(['ok']);
    expect(evaluate(policy, input({ s: 'aaaa' }), NOW).rule_ids).toEqual(['evil']);
    const re2 = timed(() => evaluate(policy, long, NOW));
    expect(baseline).toBeGreaterThan(5); // 2^23 steps: the baseline really backtracks
    expect(re2).toBeLessThan(baseline);
  });

  it('grows linearly: 8x the input costs far less than 64x the time', () => {
    const policy = bundle([
      { id: 'evil', tools: ['x.run'], if: `args.s.matches("(x+x+)+y")`, outcome: 'deny', reason: 'r' },
      { id: 'ok', tools: ['x.run'], outcome: 'allow', reason: 'r' },
    ]);
    const small = input({ s: 'x'.repeat(25_000) });
    const large = input({ s: 'x'.repeat(200_000) });
    evaluate(policy, small, NOW);
    const ts = timed(() => evaluate(policy, small, NOW));
    const tl = timed(() => evaluate(policy, large, NOW));
    expect(tl).toBeLessThan(Math.max(ts, 1) * 64);
  });

  it('a `when` pattern runs on RE2 too', () => {
    const policy = bundle([
      { id: 'evil', tools: ['x.run'], when: { arg: 's', matches: EVIL }, outcome: 'deny', reason: 'r' },
      { id: 'evil-any', tools: ['x.run'], when: { any_arg: { matches: '^(b+)+$' } }, outcome: 'deny', reason: 'r' },
      { id: 'ok', tools: ['x.run'], outcome: 'allow', reason: 'r' },
    ]);
    const long = input({ s: 'a'.repeat(100_000) + 'b', t: 'b'.repeat(100_000) + 'a' });
    expect(timed(() => expect(evaluate(policy, long, NOW).rule_ids).toEqual(['ok']))).toBeLessThan(baseline);
    expect(evaluate(policy, input({ s: 'aa' }), NOW).rule_ids).toEqual(['evil']);
  });

  it('keeps CEL semantics: matches anywhere unless anchored, RE2 syntax (classes, flags)', () => {
    const policy = bundle([
      { id: 'm', tools: ['x.run'], if: 'args.s.matches("(?i)secret[[:digit:]]+")', outcome: 'deny', reason: 'r' },
      { id: 'ok', tools: ['x.run'], outcome: 'allow', reason: 'r' },
    ]);
    expect(evaluate(policy, input({ s: 'my SECRET42 x' }), NOW).rule_ids).toEqual(['m']);
    expect(evaluate(policy, input({ s: 'secret' }), NOW).rule_ids).toEqual(['ok']);
    // inside a macro (exists) too
    const inMacro = bundle([
      { id: 'm', tools: ['x.run'], if: `args.l.exists(x, x.matches("${EVIL}"))`, outcome: 'deny', reason: 'r' },
      { id: 'ok', tools: ['x.run'], outcome: 'allow', reason: 'r' },
    ]);
    expect(evaluate(inMacro, input({ l: ['b', 'aaa'] }), NOW).rule_ids).toEqual(['m']);
    const long = input({ l: ['a'.repeat(100_000) + 'b'] });
    expect(timed(() => expect(evaluate(inMacro, long, NOW).rule_ids).toEqual(['ok']))).toBeLessThan(baseline);
  });

  it('refuses at load a literal pattern RE2 cannot compile, naming the rule', () => {
    const errs = errorsOf(() =>
      bundle([{ id: 'look', tools: ['x.run'], if: 'args.s.matches("a(?=b)")', outcome: 'deny', reason: 'r' }]),
    );
    expect(errs).toEqual([
      { path: 'rules.0.if', message: expect.stringMatching(/rule look: pattern "a\(\?=b\)" is not a valid RE2/) },
    ]);
    const when = errorsOf(() =>
      bundle([
        { id: 'ok', tools: ['x.run'], outcome: 'allow', reason: 'r' },
        {
          id: 'backref',
          tools: ['x.run'],
          when: { any: [{ arg: 'a', equals: 1 }, { not: { any_arg: { matches: '(a)\\1' } } }] },
          outcome: 'deny',
          reason: 'r',
        },
      ]),
    );
    expect(when).toEqual([
      {
        path: 'rules.1.when.any.1.not.any_arg.matches',
        message: expect.stringMatching(/^rule backref: invalid regular expression \(RE2/),
      },
    ]);
  });

  it('a pattern from the input that RE2 refuses denies (engine-error), as does one too long', () => {
    const policy = bundle([
      { id: 'dyn', tools: ['x.run'], if: 'args.s.matches(args.p)', outcome: 'allow', reason: 'r' },
    ]);
    for (const p of ['(a)\\1', 'a'.repeat(1001)]) {
      const v = evaluate(policy, input({ s: 'aa', p }), NOW);
      expect(v.outcome).toBe('deny');
      expect(v.rule_ids).toEqual(['engine-error', 'dyn']);
      expect(v.reasons[0]).toMatch(/matches: /);
    }
    expect(evaluate(policy, input({ s: 'aa', p: 'a+' }), NOW).outcome).toBe('allow');
  });

  it('re2Problem names what RE2 refuses', () => {
    expect(re2Problem('^a+$')).toBeUndefined();
    expect(re2Problem('a(?=b)')).toMatch(/Perl syntax/);
    expect(re2Problem('(unclosed')).toMatch(/missing closing/);
  });
});

describe('globs never backtrack', () => {
  it.each([
    ['fs.*', 'fs.read_file', true],
    ['fs.*', 'fsx', false],
    ['*', '', true],
    ['a*b*c', 'abc', true],
    ['a*b*c', 'axxbyyc', true],
    ['a*b*c', 'acb', false],
    ['*ab', 'ab', true],
    ['ab*ab', 'ab', false],
    ['ab*ab', 'abab', true],
    ['a*a', 'a', false],
    ['x\n*', 'x\ny\nz', true],
    ['a.b', 'axb', false],
  ])('%j ~ %j → %s', (glob, s, expected) => {
    expect(globTest(glob, s)).toBe(expected);
    expect(globsMatcher(['zzz', glob]).test(s)).toBe(expected);
  });

  it('agent globs with many stars against a long id stay fast', () => {
    const policy = bundle([
      { id: 'g', tools: ['x.run'], agents: ['*a*a*a*a*a*a*a*a*a*a*a*b'], outcome: 'deny', reason: 'r' },
      { id: 'cel', tools: ['x.run'], if: 'glob("*a*a*a*a*a*a*a*a*c", args.s)', outcome: 'deny', reason: 'r' },
      { id: 'ok', tools: ['x.run'], outcome: 'allow', reason: 'r' },
    ]);
    const t = timed(() =>
      expect(evaluate(policy, input({ s: 'a'.repeat(100_000) }, 'a'.repeat(100_000)), NOW).rule_ids).toEqual(['ok']),
    );
    expect(t).toBeLessThan(50);
  });
});

describe('a time budget per decision fails closed', () => {
  it('a decision past its budget denies with engine-error', () => {
    const policy = bundle([{ id: 'ok', tools: ['x.run'], if: 'args.s == "a"', outcome: 'allow', reason: 'r' }]);
    expect(evaluate(policy, input({ s: 'a' }), NOW).outcome).toBe('allow');
    const v = evaluate(policy, input({ s: 'a' }), NOW, undefined, -1);
    expect(v.outcome).toBe('deny');
    expect(v.rule_ids[0]).toBe('engine-error');
    expect(v.reasons[0]).toMatch(/longer than its -1 ms budget/);
  });

  it('a CEL function called past the budget stops the condition', () => {
    expect(() => withBudget(-1, () => checkBudget())).toThrow(BudgetExceededError);
    expect(() => checkBudget()).not.toThrow();
    // an inner budget never extends the outer one
    expect(() => withBudget(-1, () => withBudget(60_000, () => checkBudget()))).toThrow(BudgetExceededError);
  });
});

describe('bundle and what-if inputs are bounded', () => {
  const head = `{"version":"1","tiers":{"1":{"required_votes":0},"2":{"required_votes":1},"3":{"required_votes":2}},"roles":{"dev":{"tools":["x.*"]}},"rules":[{"id":"a","tools":["x.run"],"outcome":"allow","reason":"r","when":`;
  const deepWhen = (n: number) => '{"all":['.repeat(n) + '{"arg":"x","equals":1}' + ']}'.repeat(n);

  it('a 10,000-deep bundle is refused with a clear error, not a stack overflow', () => {
    const errs = errorsOf(() => parseBundle(`${head}${deepWhen(10_000)}}]}`));
    expect(errs[0]!.message).toMatch(new RegExp(`nests deeper than ${MAX_BUNDLE_DEPTH} levels`));
  });

  it('a bundle just under the depth limit loads; one over it names the path', () => {
    expect(() => parseBundle(`${head}${deepWhen(25)}}]}`)).not.toThrow();
    const errs = errorsOf(() => parseBundle(`${head}${deepWhen(40)}}]}`));
    expect(errs).toEqual([
      {
        path: expect.stringMatching(/^rules\.0\.when\.all\.0\.all\.0/),
        message: expect.stringMatching(/nests deeper/),
      },
    ]);
  });

  it('tooDeep is iterative and names the first path past the limit', () => {
    let deep: any = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(tooDeep({ a: deep }, 3)).toBe('a.0.0');
    expect(tooDeep({ a: [[1]] }, 3)).toBeUndefined();
  });
});
