/* eslint-disable @typescript-eslint/no-explicit-any -- the tests build bundles freely */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { ValidationError, type FieldError } from '@warden/kernel';
import { loadBundle, parseBundle, type LoadedBundle } from './bundle';
import { budgetCrossings, emptySession, evaluate, policyInput, type PolicyInput } from './evaluate';
import { runPolicyTests } from './policy-tests';
import { replay, whatIf } from './replay';

const DEFAULT_YAML = readFileSync(resolve(__dirname, '../../../deploy/policies/default.yaml'), 'utf8');
const COMPUTE_YAML = readFileSync(resolve(__dirname, '../../../deploy/policies/examples/strict.yaml'), 'utf8');
const NOW = new Date('2026-11-21T10:00:00.000Z');

const TIERS = {
  1: { required_votes: 0 },
  2: { required_votes: 1 },
  3: { required_votes: 2 },
};

/** A small bundle: dev may use everything under x.*, rules as given. */
function bundle(rules: any[], extra: Record<string, any> = {}): LoadedBundle {
  return loadBundle({
    version: 't',
    tiers: TIERS,
    roles: { dev: { tools: ['x.*', 'fs.*', 'git.*', 'pr.open'] } },
    rules,
    ...extra,
  });
}

function input(tool: string, args: Record<string, unknown> = {}, extra: Partial<PolicyInput> = {}): PolicyInput {
  return {
    agent: { id: 'agent-7', role: 'dev' },
    session_id: null,
    action: { tool, args },
    usage: null,
    session_usage: null,
    agent_usage: null,
    rate: null,
    failures: 0,
    standing: [],
    ...extra,
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

describe('the shipped bundles pass their own tests', () => {
  it.each([
    ['default', DEFAULT_YAML],
    ['examples/strict', COMPUTE_YAML],
  ])('%s', (_name, text) => {
    const results = runPolicyTests(parseBundle(text));
    expect(results.length).toBeGreaterThan(5);
    expect(results.filter((r) => !r.passed).map((r) => `${r.name}: ${r.failures.join('; ')}`)).toEqual([]);
  });

  it('a failing policy test says what differed', () => {
    const raw = parse(DEFAULT_YAML);
    raw.tests = [{ name: 'wrong', input: { agent: { role: 'dev' }, tool: 'git.reset' }, expect: { outcome: 'allow' } }];
    const [r] = runPolicyTests(loadBundle(raw));
    expect(r).toMatchObject({ passed: false, failures: ['outcome: expected "allow", got "deny"'] });
  });
});

describe('CEL conditions', () => {
  const p = bundle(
    [
      { id: 'big', tools: ['x.pay'], if: 'args.amount > 100.0', outcome: 'escalate', tier: 3, reason: 'big payment' },
      { id: 'small', tools: ['x.pay'], outcome: 'allow', reason: 'small payment' },
      {
        id: 'main-branch',
        tools: ['git.push'],
        if: 'has(args.branch) && args.branch in ["main", "master"]',
        outcome: 'deny',
        reason: 'protected',
      },
      { id: 'push', tools: ['git.push'], outcome: 'allow', reason: 'push' },
      { id: 'strict', tools: ['x.strict'], if: 'args.missing == 1', outcome: 'allow', reason: 'r' },
      { id: 'hosts', tools: ['x.get'], if: 'host(args.url) in lists.ok', outcome: 'allow', reason: 'trusted host' },
    ],
    { lists: { ok: ['example.com'] } },
  );

  it.each([
    ['x.pay', { amount: 500 }, 'escalate', 'big'],
    ['x.pay', { amount: 100 }, 'allow', 'small'],
    ['git.push', { branch: 'main' }, 'deny', 'main-branch'],
    ['git.push', { branch: 'feature' }, 'allow', 'push'],
    ['git.push', {}, 'allow', 'push'],
    ['x.get', { url: 'https://EXAMPLE.com/a' }, 'allow', 'hosts'],
    ['x.get', { url: 'https://evil.com/a' }, 'deny', 'default-deny'],
  ])('%s %j → %s (%s)', (tool, args, outcome, rule) => {
    const d = evaluate(p, input(tool, args), NOW);
    expect(d.outcome).toBe(outcome);
    expect(d.rule_ids[0]).toBe(rule);
  });

  it('fails closed when a condition cannot be evaluated, naming the rule and the error', () => {
    const d = evaluate(p, input('x.strict', {}), NOW);
    expect(d).toMatchObject({ outcome: 'deny', tier: 1, rule_ids: ['engine-error', 'strict'] });
    expect(d.reasons[0]).toMatch(/failing closed: rule strict: No such key: missing/);
  });

  it('a CEL condition that gives no bool fails closed too', () => {
    const q = bundle([{ id: 'dyn', tools: ['x.a'], if: 'args.v', outcome: 'allow', reason: 'r' }]);
    expect(evaluate(q, input('x.a', { v: 'yes' }), NOW)).toMatchObject({
      outcome: 'deny',
      rule_ids: ['engine-error', 'dyn'],
      reasons: [expect.stringContaining('not a bool')],
    });
    expect(evaluate(q, input('x.a', { v: true }), NOW).outcome).toBe('allow');
  });

  it('refuses a bundle whose expression does not parse or type-check, with path, column and line', () => {
    const text = stringify({
      version: 't',
      tiers: TIERS,
      roles: { dev: { tools: ['x.*'] } },
      rules: [
        { id: 'ok', tools: ['x.a'], outcome: 'allow', reason: 'r' },
        { id: 'syntax', tools: ['x.b'], if: 'args.a >', outcome: 'allow', reason: 'r' },
        { id: 'unknown-var', tools: ['x.c'], if: 'sesion.calls > 1.0', outcome: 'allow', reason: 'r' },
        { id: 'not-bool', tools: ['x.d'], if: '"a" + "b"', outcome: 'allow', reason: 'r' },
      ],
    });
    const errors = errorsOf(() => parseBundle(text));
    const lineOf = (needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1;
    expect(errors).toEqual([
      { path: 'rules.1.if', message: `CEL: Unexpected token: EOF (at column 9) (line ${lineOf('args.a >')})` },
      {
        path: 'rules.2.if',
        message: expect.stringMatching(new RegExp(`^CEL: Unknown variable: sesion.*\\(line ${lineOf('sesion')}\\)$`)),
      },
      { path: 'rules.3.if', message: expect.stringMatching(/^CEL: must be a bool expression, this one is string/) },
    ]);
  });

  it('every zod error carries its YAML line', () => {
    const text = DEFAULT_YAML.replace(
      'outcome: deny\n    reason: git.reset discards work',
      'outcome: nope\n    reason: x',
    );
    const [e] = errorsOf(() => parseBundle(text));
    const line = DEFAULT_YAML.split('\n').findIndex((l) => l.includes('reason: git.reset discards work'));
    expect(e).toEqual({ path: 'rules.1.outcome', message: expect.stringContaining(`(line ${line})`) });
  });

  it('sees the normalised resource path: ../ tricks resolve before matching', () => {
    const q = bundle([
      { id: 'prod', tools: ['fs.write_file'], if: 'under(resource.path, "prod")', outcome: 'deny', reason: 'prod' },
      { id: 'w', tools: ['fs.write_file'], outcome: 'allow', reason: 'w' },
    ]);
    for (const path of ['prod/x', 'a/./../prod/x', 'a/b/../../prod/x', './prod//x', 'prod\\x', 'prod'])
      expect([path, evaluate(q, input('fs.write_file', { path }), NOW).rule_ids]).toEqual([path, ['prod']]);
    for (const path of ['production/x', 'a/prod/x', 'prod-2/x'])
      expect([path, evaluate(q, input('fs.write_file', { path }), NOW).rule_ids]).toEqual([path, ['w']]);
    expect(evaluate(q, input('fs.write_file', { path: 'a/../../prod/x' }), NOW).rule_ids).toEqual(['workspace-escape']);
  });
});

describe('evaluation order', () => {
  it('deny overrides a more specific allow; else the most specific rule wins; then the stricter; then order', () => {
    const p = bundle([
      { id: 'allow-specific', tools: ['x.a'], roles: ['dev'], agents: ['agent-*'], outcome: 'allow', reason: 'r' },
      { id: 'deny-glob', tools: ['x.*'], if: 'has(args.bad)', outcome: 'deny', reason: 'bad' },
      { id: 'glob-allow', tools: ['x.*'], outcome: 'allow', reason: 'r' },
      { id: 'exact-escalate', tools: ['x.b'], outcome: 'escalate', tier: 2, reason: 'r' },
      { id: 'longer-glob', tools: ['x.c*'], outcome: 'escalate', tier: 3, reason: 'r' },
      { id: 'tie-allow', tools: ['x.d'], outcome: 'allow', reason: 'r' },
      { id: 'tie-escalate', tools: ['x.d'], outcome: 'escalate', tier: 2, reason: 'r' },
    ]);
    const ids = (tool: string, args = {}, agent = 'agent-7') =>
      evaluate(p, input(tool, args, { agent: { id: agent, role: 'dev' } }), NOW).rule_ids;
    expect(ids('x.a', { bad: 1 })).toEqual(['deny-glob']);
    expect(ids('x.a')).toEqual(['allow-specific']);
    expect(ids('x.a', {}, 'robot')).toEqual(['glob-allow']);
    expect(ids('x.b')).toEqual(['exact-escalate']);
    expect(ids('x.cat')).toEqual(['longer-glob']);
    expect(ids('x.d')).toEqual(['tie-escalate']);
    expect(ids('x.zzz')).toEqual(['glob-allow']);
  });

  it('selects on session ids (globs); no session never matches a session selector', () => {
    const p = bundle([
      { id: 'ci', tools: ['x.a'], sessions: ['ci-*'], outcome: 'allow', reason: 'ci' },
      { id: 'other', tools: ['x.a'], outcome: 'escalate', tier: 2, reason: 'r' },
    ]);
    expect(evaluate(p, input('x.a', {}, { session_id: 'ci-42', session_usage: emptySession() }), NOW).rule_ids).toEqual(
      ['ci'],
    );
    expect(evaluate(p, input('x.a'), NOW).rule_ids).toEqual(['other']);
  });
});

describe('outcomes', () => {
  it('allow carries constraints and review; escalate carries required_votes and expires_in_seconds', () => {
    const p = bundle([
      {
        id: 'run',
        tools: ['x.run'],
        outcome: 'allow',
        review: true,
        constraints: {
          timeout_seconds: 30,
          max_output_bytes: 65536,
          allowed_hosts: ['api.example.com'],
          env_allow: ['PATH', 'LC_*'],
        },
        reason: 'r',
      },
      { id: 'wire', tools: ['x.wire'], outcome: 'escalate', tier: 3, required_votes: 3, expires_in: '4h', reason: 'r' },
      { id: 'plain', tools: ['x.plain'], outcome: 'escalate', tier: 2, reason: 'r' },
    ]);
    expect(evaluate(p, input('x.run'), NOW)).toMatchObject({
      outcome: 'allow',
      review: true,
      constraints: {
        timeout_seconds: 30,
        max_output_bytes: 65536,
        allowed_hosts: ['api.example.com'],
        env_allow: ['PATH', 'LC_*'],
      },
    });
    expect(evaluate(p, input('x.wire'), NOW)).toMatchObject({
      outcome: 'escalate',
      tier: 3,
      constraints: { required_votes: 3, expires_in_seconds: 14400 },
    });
    expect(evaluate(p, input('x.plain'), NOW).constraints).toEqual({ required_votes: 1 });
  });

  it('refuses fields that do not fit the outcome', () => {
    const errors = errorsOf(() =>
      bundle([
        { id: 'a', tools: ['x.a'], outcome: 'allow', required_votes: 2, reason: 'r' },
        { id: 'b', tools: ['x.b'], outcome: 'deny', review: true, reason: 'r' },
        { id: 'c', tools: ['x.c'], outcome: 'compute', reason: 'r' },
        { id: 'd', tools: ['x.d'], outcome: 'escalate', tier: 2, expires_in: 'soon', reason: 'r' },
        { id: 'e', tools: ['x.e'], outcome: 'escalate', tier: 2, constraints: { timeout_seconds: 1 }, reason: 'r' },
      ]),
    );
    expect(errors).toEqual(
      expect.arrayContaining([
        { path: 'rules.0.required_votes', message: 'only escalate rules take it' },
        { path: 'rules.1.review', message: 'only allow rules take review' },
        { path: 'rules.2.compute', message: expect.stringContaining('compute needs a recipe') },
        { path: 'rules.3.expires_in', message: expect.stringContaining('duration') },
        { path: 'rules.4.constraints', message: 'only allow and compute rules take constraints' },
      ]),
    );
  });

  it('observe mode per rule: the decision says observe, with the outcome enforce would give', () => {
    const p = bundle([
      { id: 'trial', tools: ['x.new'], outcome: 'deny', mode: 'observe', reason: 'trying this rule out' },
      { id: 'other', tools: ['x.old'], outcome: 'deny', reason: 'r' },
    ]);
    expect(evaluate(p, input('x.new'), NOW)).toMatchObject({ outcome: 'deny', mode: 'observe', rule_ids: ['trial'] });
    expect(evaluate(p, input('x.old'), NOW)).toMatchObject({ outcome: 'deny', mode: 'enforce' });
  });
});

describe('compute recipes (deploy/policies/examples/strict.yaml)', () => {
  const p = parseBundle(COMPUTE_YAML);
  const judge = (tool: string, args: Record<string, unknown>, role = 'dev') =>
    evaluate(p, input(tool, args, { agent: { id: 'agent-7', role } }), NOW);

  it('git.push --force → --force-with-lease, keeping the original in the input and saying why', () => {
    const d = judge('git.push', { branch: 'feature/x', flags: ['--force'], force: true });
    expect(d).toMatchObject({
      outcome: 'compute',
      tier: 1,
      rewritten_action: {
        tool: 'git.push',
        args: { branch: 'feature/x', flags: [], force_with_lease: true },
      },
    });
    expect(d.rewritten_action!.args).not.toHaveProperty('force');
    expect(d.reasons).toContain('rewritten: git.push --force → git.push --force-with-lease');
  });

  it('git.push to a protected branch → pr.open from a derived branch', () => {
    const d = judge('git.push', { remote: 'origin', branch: 'main' });
    expect(d.outcome).toBe('compute');
    expect(d.rewritten_action).toEqual({
      tool: 'pr.open',
      args: {
        base: 'main',
        head: `warden/agent-7/${d.input_hash.slice(7, 19)}`,
        push_head: true,
        remote: 'origin',
        title: 'agent-7: changes for main',
      },
    });
  });

  it('email.send → email.draft; deploy.production → deploy.canary; prod/ writes → staging/', () => {
    expect(judge('email.send', { to: 'a@b.c', body: 'hi' }, 'outreach')).toMatchObject({
      outcome: 'compute',
      rewritten_action: { tool: 'email.draft', args: { to: 'a@b.c', body: 'hi' } },
    });
    expect(judge('deploy.production', { ref: 'v1' })).toMatchObject({
      outcome: 'compute',
      rewritten_action: { tool: 'deploy.canary', args: { ref: 'v1', percent: 10 } },
    });
    expect(judge('fs.write_file', { path: 'a/../prod/app/config.yaml', content: 'x' })).toMatchObject({
      outcome: 'compute',
      rewritten_action: { tool: 'fs.write_file', args: { path: 'staging/app/config.yaml', content: 'x' } },
      reasons: expect.arrayContaining(['rewritten: fs.write_file prod/app/config.yaml → staging/app/config.yaml']),
    });
  });

  it('a rewrite the policy would not allow as it is turns into a deny', () => {
    const q = bundle([
      {
        id: 'swap',
        tools: ['fs.write_file'],
        if: 'under(resource.path, "prod")',
        outcome: 'compute',
        compute: { recipe: 'path_swap' },
        reason: 'r',
      },
      {
        id: 'staging',
        tools: ['fs.write_file'],
        if: 'under(resource.path, "staging")',
        outcome: 'escalate',
        tier: 2,
        reason: 'r',
      },
    ]);
    expect(evaluate(q, input('fs.write_file', { path: 'prod/a' }), NOW)).toMatchObject({
      outcome: 'deny',
      rule_ids: ['swap', 'staging'],
      reasons: ['r', expect.stringContaining('the rewrite (fs.write_file prod/a → staging/a) is not allowed as it is')],
    });
    expect(evaluate(q, input('fs.write_file', { path: 'prod' }), NOW).rewritten_action).toBeUndefined();
  });
});

describe('standing approvals', () => {
  const p = parseBundle(DEFAULT_YAML);
  const grant = (over: Record<string, unknown> = {}) => ({
    id: 'st-1',
    scope: 'agent' as const,
    agent_id: 'agent-7',
    tool: 'git.push',
    max_tier: 2 as const,
    ...over,
  });
  const push = (extra: Partial<PolicyInput>) => evaluate(p, input('git.push', { branch: 'x' }, extra), NOW);

  it('allow an escalation they cover, saying so', () => {
    expect(push({ standing: [grant()] })).toMatchObject({
      outcome: 'allow',
      tier: 1,
      rule_ids: ['git-push', 'standing:st-1'],
      reasons: ['pushing needs an approver', expect.stringContaining('standing approval st-1')],
      constraints: {},
    });
  });

  it('session scope needs the same session; another agent, tool or a lower tier is not covered', () => {
    const s = { session_id: 's1', session_usage: emptySession() };
    expect(push({ ...s, standing: [grant({ scope: 'session', session_id: 's1' })] }).outcome).toBe('allow');
    expect(push({ ...s, standing: [grant({ scope: 'session', session_id: 's2' })] }).outcome).toBe('escalate');
    expect(push({ standing: [grant({ scope: 'session', session_id: 's1' })] }).outcome).toBe('escalate');
    expect(push({ standing: [grant({ agent_id: 'agent-8' })] }).outcome).toBe('escalate');
    expect(push({ standing: [grant({ tool: 'pr.open' })] }).outcome).toBe('escalate');
    expect(
      evaluate(p, input('fs.write_file', { path: 'prod/x' }, { standing: [grant({ tool: 'fs.write_file' })] }), NOW)
        .outcome,
    ).toBe('escalate');
  });

  it('never turn a deny into an allow', () => {
    expect(evaluate(p, input('git.push', { force: true }, { standing: [grant({ max_tier: 3 })] }), NOW).outcome).toBe(
      'deny',
    );
  });
});

describe('budgets, rate limits and loops', () => {
  const p = bundle([{ id: 'a', tools: ['x.a'], outcome: 'allow', reason: 'r' }], {
    budgets: {
      session: { max_calls: 100, max_cost_usd: 1 },
      agent: { max_tokens: 1000, escalate_at: 0.5, on_exceed: 'escalate', tier: 3 },
    },
    rate_limits: [{ id: 'slow', tools: ['x.*'], capacity: 2, per: '1m', outcome: 'deny' }],
    loops: { max_failures: 2, tier: 2 },
  });
  const inSession = (calls: number, extra: Partial<PolicyInput> = {}) =>
    input('x.a', {}, { session_id: 's', session_usage: { ...emptySession(), calls }, ...extra });

  it('79 % allows, 80 % escalates, 100 % (the last call within budget) escalates, over denies', () => {
    expect(evaluate(p, inSession(78), NOW).outcome).toBe('allow');
    expect(evaluate(p, inSession(79), NOW)).toMatchObject({
      outcome: 'escalate',
      tier: 2,
      rule_ids: ['a', 'session-budget'],
      reasons: ['r', 'session at 80% of its max_calls budget (80 of 100; escalates from 80%)'],
    });
    expect(evaluate(p, inSession(99), NOW).outcome).toBe('escalate');
    expect(evaluate(p, inSession(100), NOW)).toMatchObject({
      outcome: 'deny',
      rule_ids: ['a', 'session-budget'],
      reasons: ['r', 'session over its max_calls budget (101 of 100)'],
    });
    expect(budgetCrossings(p, inSession(100))).toEqual([
      { scope: 'session', budget: 'max_calls', used: 101, limit: 100 },
    ]);
    expect(budgetCrossings(p, inSession(101))).toEqual([]);
  });

  it('counts cost from usage, and agent budgets across sessions', () => {
    const costly = inSession(0, { usage: { cost_usd: 0.6 }, session_usage: { ...emptySession(), cost_usd: 0.5 } });
    expect(evaluate(p, costly, NOW)).toMatchObject({
      outcome: 'deny',
      reasons: ['r', 'session over its max_cost_usd budget (1.1 of 1)'],
    });
    const agent = (tokens: number, use: number) =>
      evaluate(p, input('x.a', {}, { usage: { tokens: use }, agent_usage: { calls: 0, tokens, cost_usd: 0 } }), NOW);
    expect(agent(0, 499).outcome).toBe('allow');
    expect(agent(0, 500)).toMatchObject({ outcome: 'escalate', tier: 3, rule_ids: ['a', 'agent-budget'] });
    expect(agent(900, 200)).toMatchObject({
      outcome: 'escalate',
      reasons: ['r', 'agent over its max_tokens budget (1100 of 1000)'],
    });
    expect(
      budgetCrossings(
        p,
        input('x.a', {}, { usage: { tokens: 200 }, agent_usage: { calls: 0, tokens: 900, cost_usd: 0 } }),
      ),
    ).toEqual([{ scope: 'agent', budget: 'max_tokens', used: 1100, limit: 1000 }]);
  });

  it('a rate-limited proposal is denied (or escalated) with the limit named', () => {
    expect(evaluate(p, input('x.a', {}, { rate: { limit_id: 'slow', limited: true } }), NOW)).toMatchObject({
      outcome: 'deny',
      rule_ids: ['a', 'rate-limit:slow'],
      reasons: ['r', 'agent agent-7 is over its rate limit for x.a (2 per 60 s)'],
    });
    expect(evaluate(p, input('x.a', {}, { rate: { limit_id: 'slow', limited: false } }), NOW).outcome).toBe('allow');
  });

  it('the same action failing max_failures times escalates the next attempt', () => {
    expect(evaluate(p, inSession(0, { failures: 1 }), NOW).outcome).toBe('allow');
    expect(evaluate(p, inSession(0, { failures: 2 }), NOW)).toMatchObject({
      outcome: 'escalate',
      tier: 2,
      rule_ids: ['a', 'loop-detected'],
    });
  });

  it('a budget used up to exactly 100 % refuses the next run, even one that adds nothing to it', () => {
    const tokens = bundle([{ id: 'a', tools: ['x.a'], outcome: 'allow', reason: 'r' }], {
      budgets: { session: { max_tokens: 1000, escalate_at: null, on_exceed: 'deny' } },
    });
    const at = (before: number, use: number) =>
      input(
        'x.a',
        {},
        { session_id: 's', session_usage: { ...emptySession(), tokens: before }, usage: { tokens: use } },
      );
    // the run that reaches the limit exactly still fits in it
    expect(evaluate(tokens, at(900, 100), NOW)).toMatchObject({ outcome: 'allow', rule_ids: ['a'] });
    // at 100 %: refused, although this proposal reports no tokens (before: allowed for ever)
    expect(evaluate(tokens, at(1000, 0), NOW)).toMatchObject({
      outcome: 'deny',
      rule_ids: ['a', 'session-budget'],
      reasons: ['r', 'session has used all of its max_tokens budget (1000 of 1000, 100 %)'],
    });
    expect(evaluate(tokens, at(1000, 5), NOW)).toMatchObject({
      outcome: 'deny',
      reasons: ['r', 'session over its max_tokens budget (1005 of 1000)'],
    });
    // budget_exceeded: once, by the run that goes over
    expect(budgetCrossings(tokens, at(1000, 0))).toEqual([]);
    expect(budgetCrossings(tokens, at(1000, 5))).toEqual([
      { scope: 'session', budget: 'max_tokens', used: 1005, limit: 1000 },
    ]);
    expect(budgetCrossings(tokens, at(1005, 5))).toEqual([]);
  });

  describe('the same call repeated (loops.max_repeats)', () => {
    const looped = bundle(
      [
        { id: 'a', tools: ['x.a'], outcome: 'allow', reason: 'r' },
        { id: 'no', tools: ['x.no'], outcome: 'deny', reason: 'never' },
      ],
      { loops: { max_failures: 3, tier: 2, max_repeats: 3, escalate_repeats: 5 } },
    );
    const repeated = (repeats: number, extra: Partial<PolicyInput> = {}) =>
      input('x.a', { q: 1 }, { session_id: 's', session_usage: emptySession(), repeats, ...extra });

    it('allows below max_repeats, then refuses telling the agent it is looping, then escalates', () => {
      expect(evaluate(looped, repeated(2), NOW)).toMatchObject({ outcome: 'allow', rule_ids: ['a'] });
      for (const n of [3, 4])
        expect(evaluate(looped, repeated(n), NOW)).toMatchObject({
          outcome: 'deny',
          rule_ids: ['a', 'loop-repeated-call'],
          reasons: [
            'r',
            `looping: x.a with these exact arguments was already proposed ${n} times in this session (loop detection at 3); change the arguments, use the result you have, or stop`,
          ],
        });
      expect(evaluate(looped, repeated(5), NOW)).toMatchObject({
        outcome: 'escalate',
        tier: 2,
        rule_ids: ['a', 'loop-repeated-call'],
        reasons: ['r', expect.stringMatching(/^still looping: x\.a .* proposed 5 times .*a person decides/)],
      });
      expect(evaluate(looped, repeated(200), NOW).outcome).toBe('escalate');
    });

    it('counts nothing without a session, never softens a deny, and a bundle without max_repeats ignores repeats', () => {
      expect(evaluate(looped, repeated(10, { session_id: null, session_usage: null }), NOW).outcome).toBe('allow');
      expect(
        evaluate(looped, input('x.no', {}, { session_id: 's', session_usage: emptySession(), repeats: 10 }), NOW),
      ).toMatchObject({ outcome: 'deny', rule_ids: ['no'] });
      expect(evaluate(p, repeated(1000), NOW).outcome).toBe('allow');
    });

    it('repeats are part of the judged input; an input without them hashes as before they were counted', () => {
      const h = (i: PolicyInput) => evaluate(looped, i, NOW).input_hash;
      const { repeats: _r, ...without } = repeated(0);
      expect(h(repeated(1))).not.toBe(h(without as PolicyInput));
      expect(
        policyInput({ agent: { id: 'a', role: 'dev' }, action: { tool: 'x.a', args: {} } }, { repeats: 0 }),
      ).not.toHaveProperty('repeats');
    });

    it('refuses escalate_repeats without max_repeats or not above it, naming the field', () => {
      const err = (loops: Record<string, unknown>) =>
        errorsOf(() => bundle([{ id: 'a', tools: ['x.a'], outcome: 'allow', reason: 'r' }], { loops }));
      expect(err({ max_failures: 3, tier: 2, max_repeats: 5, escalate_repeats: 5 })).toEqual([
        { path: 'loops.escalate_repeats', message: 'must be above max_repeats' },
      ]);
      expect(err({ max_failures: 3, tier: 2, escalate_repeats: 5 })).toEqual([
        { path: 'loops.escalate_repeats', message: 'needs max_repeats' },
      ]);
    });
  });
});

describe('replay and what-if', () => {
  const p = parseBundle(DEFAULT_YAML);
  const recorded = [
    input('git.push', { branch: 'x' }),
    input('secrets.read'),
    input('fs.read_file', { path: 'a' }),
    input('git.reset'),
    input('email.send', {}, { agent: { id: 'o', role: 'outreach' } }),
  ].map((i, k) => {
    const v = evaluate(p, i, NOW);
    return { run_id: `run-${k}`, ...v, decided_at: NOW, input: i };
  });

  it('replay reproduces a recorded decision exactly, and names any difference', () => {
    for (const r of recorded) expect(replay(p, r)).toMatchObject({ identical: true, differences: [] });
    const tampered = { ...recorded[0]!, outcome: 'allow' };
    expect(replay(p, tampered)).toMatchObject({
      identical: false,
      differences: ['outcome: recorded "allow", replayed "escalate"'],
    });
  });

  it('what-if counts transitions with examples', () => {
    const raw = parse(DEFAULT_YAML);
    raw.rules = raw.rules.filter((r: any) => r.id !== 'git-reset');
    raw.rules.push({ id: 'git-reset-ok', tools: ['git.reset'], outcome: 'allow', reason: 'now fine' });
    raw.rules.find((r: any) => r.id === 'email-send').tier = 3;
    const report = whatIf(loadBundle(raw), recorded);
    expect(report).toMatchObject({
      evaluated: 5,
      unchanged: 3,
      changed: 2,
      transitions: { 'deny→allow': 1, 'escalate(2)→escalate(3)': 1 },
    });
    expect(report.examples['deny→allow']).toEqual([
      {
        run_id: 'run-3',
        agent: 'agent-7 (dev)',
        tool: 'git.reset',
        before: { outcome: 'deny', tier: 1, rule_ids: ['git-reset'] },
        after: { outcome: 'allow', tier: 1, rule_ids: ['git-reset-ok'], reasons: ['now fine'] },
      },
    ]);
  });
});

describe('rule index', () => {
  it('a 500-rule bundle gives the same decisions as scanning would, by tool', () => {
    const rules = Array.from({ length: 500 }, (_, i) => ({
      id: `r${i}`,
      tools: [i % 50 === 0 ? `x.t${i}*` : `x.t${i}`],
      ...(i % 3 === 0 ? { if: `has(args.n) && args.n > ${i}.0` } : {}),
      outcome: i % 7 === 0 ? 'deny' : 'allow',
      reason: `rule ${i}`,
    }));
    const p = bundle(rules);
    expect(evaluate(p, input('x.t7'), NOW)).toMatchObject({ outcome: 'deny', rule_ids: ['r7'] });
    expect(evaluate(p, input('x.t8'), NOW)).toMatchObject({ outcome: 'allow', rule_ids: ['r8'] });
    expect(evaluate(p, input('x.t9', { n: 1 }), NOW).rule_ids).toEqual(['default-deny']);
    expect(evaluate(p, input('x.t9', { n: 10 }), NOW).rule_ids).toEqual(['r9']);
    // x.t100* matches x.t1000 and x.t100 (exact) too: the exact one is more specific
    expect(evaluate(p, input('x.t100'), NOW).rule_ids).toEqual(['r100']);
    expect(evaluate(p, input('x.t1005'), NOW).rule_ids).toEqual(['r100']);
  });
});
