/* eslint-disable @typescript-eslint/no-explicit-any -- the tests edit parsed YAML freely */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { parseBundle, type LoadedBundle } from './bundle';
import { canonicalJson, sha256Canonical } from '@warden/kernel';
import {
  budgetCrossings,
  canonicalInput,
  evaluate,
  globMatches,
  emptySession,
  policyInput,
  type PolicyInput,
} from './evaluate';

type Usage = { calls: number; tokens: number };
/** A session state with these counters and no history. */
const sess = (u: Usage) => ({ ...emptySession(), ...u });

const DEFAULT_YAML = readFileSync(resolve(__dirname, '../../../deploy/policies/default.yaml'), 'utf8');
const policy = parseBundle(DEFAULT_YAML);
const NOW = new Date('2026-11-21T10:00:00.000Z');

function input(
  role: string,
  tool: string,
  args: Record<string, unknown> = {},
  extra: Partial<Omit<PolicyInput, 'session_usage'>> & { session_usage?: Usage | null } = {},
): PolicyInput {
  const { session_usage, ...rest } = extra;
  return {
    agent: { id: 'agent-7', role },
    session_id: null,
    action: { tool, args },
    usage: null,
    session_usage: session_usage ? sess(session_usage) : (session_usage ?? null),
    agent_usage: null,
    rate: null,
    failures: 0,
    standing: [],
    ...rest,
  };
}

function judge(role: string, tool: string, args: Record<string, unknown> = {}, p: LoadedBundle = policy) {
  return evaluate(p, input(role, tool, args), NOW);
}

/** The same bundle with edits applied to its parsed YAML. */
function variant(edit: (raw: Record<string, any>) => void): LoadedBundle {
  const raw = parse(DEFAULT_YAML) as Record<string, any>;
  edit(raw);
  return parseBundle(JSON.stringify(raw));
}

describe('default bundle: CONTRACT §4 table', () => {
  it.each([
    ['dev', 'fs.read_file', { path: 'src/a.ts' }, 'fs-read'],
    ['dev', 'fs.list_dir', { path: '.' }, 'fs-read'],
    ['dev', 'fs.list_dir', {}, 'fs-read'],
    ['research', 'fs.read_file', { path: 'notes/a.md' }, 'fs-read'],
    ['outreach', 'fs.read_file', { path: 'contacts.csv' }, 'fs-read'],
    ['dev', 'git.status', {}, 'git-read'],
    ['dev', 'git.diff', { path: 'src' }, 'git-read'],
    ['dev', 'fs.write_file', { path: 'notes/a.md', content: 'hi' }, 'fs-write'],
    ['dev', 'fs.write_file', { path: 'production/a.md', content: 'not prod/' }, 'fs-write'],
    ['dev', 'fs.write_file', { path: 'src/prod/a.md', content: 'nested prod is not prod/' }, 'fs-write'],
    ['dev', 'git.add', { paths: ['a'] }, 'git-local-write'],
    ['dev', 'git.commit', { message: 'feat: x' }, 'git-local-write'],
    ['research', 'http.get', { url: 'https://example.com' }, 'http-get'],
    ['outreach', 'http.get', { url: 'https://example.com' }, 'http-get'],
  ])('%s %s %j → allow tier 1 (%s)', (role, tool, args, ruleId) => {
    const d = judge(role, tool, args);
    expect(d).toMatchObject({ outcome: 'allow', tier: 1, rule_ids: [ruleId], mode: 'enforce', constraints: {} });
    expect(d.reasons).toHaveLength(1);
  });

  it.each([
    ['dev', 'git.push', { remote: 'origin', branch: 'feature/x' }, 'git-push'],
    ['dev', 'git.push', { force: false }, 'git-push'],
    ['dev', 'pr.open', { title: 'x' }, 'pr-open'],
    ['outreach', 'email.send', { to: 'a@example.com', subject: 'hi' }, 'email-send'],
    ['dev', 'deploy.staging', { ref: 'main' }, 'deploy-staging'],
    ['dev', 'shell.exec', { command: 'npm test' }, 'shell-exec'],
  ])('%s %s %j → escalate tier 2, one approver (%s)', (role, tool, args, ruleId) => {
    expect(judge(role, tool, args)).toMatchObject({
      outcome: 'escalate',
      tier: 2,
      rule_ids: [ruleId],
      constraints: { required_votes: 1 },
    });
  });

  it.each([
    ['dev', 'fs.write_file', { path: 'prod/config.yaml', content: 'x' }, 'fs-write-prod'],
    ['dev', 'fs.write_file', { path: './prod/a/b.txt' }, 'fs-write-prod'],
    ['dev', 'fs.write_file', { path: 'src/../prod/a.txt' }, 'fs-write-prod'],
    ['dev', 'fs.write_file', { path: 'prod' }, 'fs-write-prod'],
    ['dev', 'fs.write_file', { path: 'prod\\x.txt' }, 'fs-write-prod'],
    ['dev', 'deploy.production', { ref: 'v1' }, 'deploy-production'],
    ['ops', 'deploy.production', { ref: 'v1' }, 'deploy-production'],
    ['ops', 'secrets.rotate', { name: 'db' }, 'secrets-rotate'],
    ['ops', 'billing.refund', { amount: 10 }, 'billing'],
    ['ops', 'billing.charge.card', {}, 'billing'],
  ])('%s %s %j → escalate tier 3, two approvers (%s)', (role, tool, args, ruleId) => {
    expect(judge(role, tool, args)).toMatchObject({
      outcome: 'escalate',
      tier: 3,
      rule_ids: [ruleId],
      constraints: { required_votes: 2 },
    });
  });

  it.each([
    ['dev', 'secrets.read', { name: 'db' }, 'secrets-read'],
    ['ops', 'secrets.read', { name: 'db' }, 'secrets-read'],
    ['dev', 'git.reset', { hard: true }, 'git-reset'],
    ['dev', 'git.push', { force: true }, 'git-force-push'],
    ['dev', 'git.push', { force: 'true' }, 'git-force-push'],
    ['dev', 'git.push', { args: ['origin', 'main', '--force'] }, 'git-force-push'],
    ['dev', 'git.push', { flags: ['-f'] }, 'git-force-push'],
    ['dev', 'git.push', { options: { extra: '--force-with-lease=main' } }, 'git-force-push'],
    ['dev', 'git.push', { refspec: '+main:main' }, 'git-force-push'],
  ])('%s %s %j → deny tier 1 (%s)', (role, tool, args, ruleId) => {
    expect(judge(role, tool, args)).toMatchObject({ outcome: 'deny', tier: 1, rule_ids: [ruleId], constraints: {} });
  });

  it.each([
    ['../etc/passwd', 'escapes the workspace'],
    ['a/../../b', 'escapes the workspace'],
    ['..', 'escapes the workspace'],
    ['..\\..\\windows', 'escapes the workspace'],
    ['/etc/passwd', 'is absolute'],
    ['\\\\server\\share', 'is absolute'],
    ['C:\\x', 'is absolute'],
    ['notes/a\0.md', 'contains a NUL byte'],
  ])('a path escaping the workspace (%j) → deny workspace-escape: %s', (path, reason) => {
    const d = judge('dev', 'fs.read_file', { path });
    expect(d).toMatchObject({
      outcome: 'deny',
      tier: 1,
      rule_ids: ['workspace-escape'],
      reasons: [`args.path ${reason}`],
    });
  });

  it('checks every path-like argument, including array items and non-strings', () => {
    expect(judge('dev', 'fs.move', { src: 'a.txt', dest: '../b.txt' }).reasons).toEqual([
      'args.dest escapes the workspace',
    ]);
    expect(judge('dev', 'fs.copy', { dir: ['ok', '/abs'] }).reasons).toEqual(['args.dir.1 is absolute']);
    expect(judge('dev', 'fs.read_file', { path: { nested: '/x' } }).reasons).toEqual([
      'args.path must be a string path',
    ]);
    // escape wins over an allowing rule and over a role that could not use the tool anyway
    expect(judge('research', 'fs.write_file', { path: '../x' }).rule_ids).toEqual(['workspace-escape']);
  });

  it('a tool the role may not use → deny role-tools', () => {
    expect(judge('research', 'fs.write_file', { path: 'a.md' })).toMatchObject({
      outcome: 'deny',
      tier: 1,
      rule_ids: ['role-tools'],
      reasons: ['role research may not use fs.write_file'],
    });
    expect(judge('dev', 'email.send', { to: 'x' }).rule_ids).toEqual(['role-tools']);
    expect(judge('outreach', 'git.status').rule_ids).toEqual(['role-tools']);
    expect(judge('dev', 'billing.refund').rule_ids).toEqual(['role-tools']);
    expect(judge('intern', 'fs.read_file', { path: 'a' })).toMatchObject({
      outcome: 'deny',
      rule_ids: ['role-tools'],
      reasons: ['role intern is not defined by the policy'],
    });
  });

  it('a tool the bundle does not name → default deny, even for a role whose globs cover it', () => {
    expect(judge('dev', 'rocket.launch')).toMatchObject({
      outcome: 'deny',
      tier: 1,
      rule_ids: ['default-deny'],
      reasons: ['the policy does not name rocket.launch'],
    });
    expect(judge('dev', 'fs.delete_file', { path: 'a' }).rule_ids).toEqual(['default-deny']);
    expect(judge('dev', 'deploy.canary').rule_ids).toEqual(['default-deny']);
  });

  it('a named tool whose every rule has a condition that does not hold → default deny', () => {
    const p = variant((raw) => {
      raw.rules = [
        {
          id: 'only-docs',
          tools: ['fs.write_file'],
          when: { path_under: 'docs' },
          outcome: 'allow',
          reason: 'docs only',
        },
      ];
    });
    expect(judge('dev', 'fs.write_file', { path: 'docs/a.md' }, p).outcome).toBe('allow');
    expect(judge('dev', 'fs.write_file', { path: 'src/a.md' }, p)).toMatchObject({
      outcome: 'deny',
      rule_ids: ['default-deny'],
      reasons: ['no rule allows fs.write_file with these arguments'],
    });
  });
});

describe('conditions', () => {
  const p = variant((raw) => {
    raw.rules = [
      { id: 'exists', tools: ['x.exists'], when: { arg: 'opt.flag', exists: true }, outcome: 'allow', reason: 'r' },
      {
        id: 'absent',
        tools: ['x.absent'],
        when: { not: { arg: 'flag', exists: true } },
        outcome: 'allow',
        reason: 'r',
      },
      {
        id: 'contains',
        tools: ['x.contains'],
        when: { arg: 'list', contains: { a: 1 } },
        outcome: 'allow',
        reason: 'r',
      },
      { id: 'substr', tools: ['x.substr'], when: { arg: 'text', contains: 'needle' }, outcome: 'allow', reason: 'r' },
      {
        id: 'equals',
        tools: ['x.equals'],
        when: { arg: 'obj', equals: { b: [1, 2], a: 'x' } },
        outcome: 'allow',
        reason: 'r',
      },
      {
        id: 'all',
        tools: ['x.all'],
        when: {
          all: [
            { arg: 'a', equals: 1 },
            { arg: 'b', equals: 2 },
          ],
        },
        outcome: 'allow',
        reason: 'r',
      },
    ];
    raw.roles = { dev: { tools: ['x.*'] } };
  });
  it.each([
    ['x.exists', { opt: { flag: 0 } }, 'allow'],
    ['x.exists', { opt: {} }, 'deny'],
    ['x.absent', {}, 'allow'],
    ['x.absent', { flag: null }, 'deny'],
    ['x.contains', { list: [{ a: 1 }, 2] }, 'allow'],
    ['x.contains', { list: [{ a: 2 }] }, 'deny'],
    ['x.substr', { text: 'haystack with needle' }, 'allow'],
    ['x.substr', { text: 'haystack' }, 'deny'],
    ['x.equals', { obj: { a: 'x', b: [1, 2] } }, 'allow'],
    ['x.equals', { obj: { a: 'x', b: [2, 1] } }, 'deny'],
    ['x.all', { a: 1, b: 2 }, 'allow'],
    ['x.all', { a: 1, b: 3 }, 'deny'],
  ])('%s %j → %s', (tool, args, outcome) => {
    expect(judge('dev', tool, args, p).outcome).toBe(outcome);
  });
});

describe('session budgets', () => {
  const p = variant((raw) => {
    raw.budgets = { session: { max_calls: 3, max_tokens: 1000, escalate_at: null, on_exceed: 'escalate' } };
  });
  const withUsage = (before: Usage, tokens = 0, tool = 'fs.read_file', role = 'dev'): PolicyInput =>
    input(role, tool, { path: 'a' }, { session_id: 'sess-1', session_usage: before, usage: { tokens } });

  it('allows while within budget, including the call that reaches the limit exactly', () => {
    expect(evaluate(p, withUsage({ calls: 2, tokens: 400 }, 600), NOW)).toMatchObject({
      outcome: 'allow',
      rule_ids: ['fs-read'],
    });
    expect(budgetCrossings(p, withUsage({ calls: 2, tokens: 400 }, 600))).toEqual([]);
  });

  it('escalates tier 2 once the session is over its call budget, naming the budget', () => {
    const d = evaluate(p, withUsage({ calls: 3, tokens: 0 }), NOW);
    expect(d).toMatchObject({
      outcome: 'escalate',
      tier: 2,
      rule_ids: ['fs-read', 'session-budget'],
      reasons: [expect.any(String), 'session over its max_calls budget (4 of 3)'],
      constraints: { required_votes: 1 },
    });
    expect(budgetCrossings(p, withUsage({ calls: 3, tokens: 0 }))).toEqual([
      { scope: 'session', budget: 'max_calls', used: 4, limit: 3 },
    ]);
    // later runs stay escalated but do not cross again
    expect(evaluate(p, withUsage({ calls: 7, tokens: 0 }), NOW).rule_ids).toEqual(['fs-read', 'session-budget']);
    expect(budgetCrossings(p, withUsage({ calls: 7, tokens: 0 }))).toEqual([]);
  });

  it("escalates on the token budget, counting this run's tokens", () => {
    const i = withUsage({ calls: 0, tokens: 900 }, 101);
    expect(evaluate(p, i, NOW)).toMatchObject({
      outcome: 'escalate',
      tier: 2,
      reasons: [expect.any(String), 'session over its max_tokens budget (1001 of 1000)'],
    });
    expect(budgetCrossings(p, i)).toEqual([{ scope: 'session', budget: 'max_tokens', used: 1001, limit: 1000 }]);
    expect(budgetCrossings(p, withUsage({ calls: 0, tokens: 1001 }, 5))).toEqual([]);
  });

  it('keeps the higher tier of the rule, and never turns a deny into an escalation', () => {
    const prod = input(
      'dev',
      'fs.write_file',
      { path: 'prod/x' },
      { session_id: 's', session_usage: { calls: 9, tokens: 0 } },
    );
    expect(evaluate(p, prod, NOW)).toMatchObject({
      outcome: 'escalate',
      tier: 3,
      rule_ids: ['fs-write-prod', 'session-budget'],
      constraints: { required_votes: 2 },
    });
    const secret = input('dev', 'secrets.read', {}, { session_id: 's', session_usage: { calls: 9, tokens: 0 } });
    expect(evaluate(p, secret, NOW)).toMatchObject({ outcome: 'deny', rule_ids: ['secrets-read'] });
  });

  it('ignores budgets without a session', () => {
    expect(evaluate(p, input('dev', 'fs.read_file', { path: 'a' }, { usage: { tokens: 10_000 } }), NOW).outcome).toBe(
      'allow',
    );
  });
});

describe('mode and determinism', () => {
  it('observe mode records the outcome enforce would give', () => {
    const observe = variant((raw) => {
      raw.mode = 'observe';
    });
    expect(judge('dev', 'secrets.read', {}, observe)).toMatchObject({
      outcome: 'deny',
      mode: 'observe',
      rule_ids: ['secrets-read'],
    });
    expect(judge('dev', 'git.push', {}, observe)).toMatchObject({ outcome: 'escalate', tier: 2, mode: 'observe' });
    expect(observe.digest).not.toBe(policy.digest);
  });

  it('the same input under the same digest gives the same hash, outcome, rule_ids and reasons', () => {
    const a = evaluate(policy, input('dev', 'git.push', { remote: 'origin', branch: 'x' }), NOW);
    const b = evaluate(
      parseBundle(DEFAULT_YAML),
      input('dev', 'git.push', { branch: 'x', remote: 'origin' }),
      new Date('2027-01-01T00:00:00Z'),
    );
    expect(b.input_hash).toBe(a.input_hash);
    expect(b.policy_digest).toBe(a.policy_digest);
    expect({ ...b, evaluated_at: a.evaluated_at }).toEqual(a);
    expect(a.input_hash).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(a.policy_version).toBe('2026-12-03.1');
  });

  it('input_hash covers every evaluated field, including the session usage snapshot', () => {
    const base = input(
      'dev',
      'fs.read_file',
      { path: 'a' },
      { session_id: 's', session_usage: { calls: 1, tokens: 0 } },
    );
    const h = (i: PolicyInput) => evaluate(policy, i, NOW).input_hash;
    expect(h({ ...base, session_usage: sess({ calls: 2, tokens: 0 }) })).not.toBe(h(base));
    expect(h({ ...base, session_usage: { ...sess({ calls: 1, tokens: 0 }), tools: { 'secrets.read': 1 } } })).not.toBe(
      h(base),
    );
    expect(h({ ...base, failures: 1 })).not.toBe(h(base));
    expect(h({ ...base, rate: { limit_id: 'r', limited: false } })).not.toBe(h(base));
    expect(
      h({ ...base, standing: [{ id: 's1', scope: 'agent', agent_id: 'agent-7', tool: 'fs.read_file', max_tier: 2 }] }),
    ).not.toBe(h(base));
    expect(h({ ...base, agent: { id: 'agent-8', role: 'dev' } })).not.toBe(h(base));
    expect(h({ ...base, action: { tool: 'fs.read_file', args: { path: 'b' } } })).not.toBe(h(base));
    expect(h({ ...base, usage: { tokens: 1 } })).not.toBe(h(base));
  });

  it('policyInput takes exactly the judged fields of a submission', () => {
    const i = policyInput(
      {
        agent: { id: 'a', role: 'dev' },
        session_id: 's',
        action: { tool: 'fs.read_file', args: { path: 'x' } },
        intent: 'free text is not judged',
        usage: { tokens: 5 },
        metadata: { not: 'judged' },
      },
      { session: { calls: 2, tokens: 10 } },
    );
    expect(i).toEqual({
      agent: { id: 'a', role: 'dev' },
      session_id: 's',
      action: { tool: 'fs.read_file', args: { path: 'x' } },
      usage: { tokens: 5 },
      session_usage: { calls: 2, tokens: 10, cost_usd: 0, tools: {}, hosts: [] },
      agent_usage: null,
      rate: null,
      failures: 0,
      standing: [],
    });
    expect(policyInput({ agent: { id: 'a', role: 'dev' }, action: { tool: 'git.status', args: {} } })).toMatchObject({
      session_id: null,
      usage: null,
      session_usage: null,
    });
  });
});

describe('evaluation work done once per bundle or per input', () => {
  const inputs: PolicyInput[] = [
    input('dev', 'fs.read_file', { path: 'src/a.ts' }),
    input('dev', 'fs.write_file', { path: 'prod/x', content: 'é\u2028 "q"' }),
    input('research', 'http.get', { url: 'https://e.com', n: [1.5e300, -0, 1e-7, 0.1] }),
    input(
      'dev',
      'git.push',
      { b: { z: 1, a: [true, null] }, a: 'x' },
      { session_id: 's', usage: { tokens: 3, cost_usd: 0.25 } },
    ),
    input('ops', 'billing.charge', {}, { session_id: 'sess-é', session_usage: { calls: 4, tokens: 12 } }),
  ];

  it.each(inputs.map((i) => [i.action.tool, i]))(
    'canonicalInput is the canonical JSON of the whole input (%s)',
    (_tool, i) => {
      expect(canonicalInput(i)).toBe(canonicalJson(i));
      expect(canonicalInput(i, canonicalJson(i.action))).toBe(canonicalJson(i));
    },
  );

  it.each(inputs.map((i) => [i.action.tool, i]))(
    'input_hash is sha256 of the canonical input, with or without a precomputed action (%s)',
    (_tool, i) => {
      const plain = evaluate(policy, i, NOW);
      expect(plain.input_hash).toBe(sha256Canonical(i));
      expect(evaluate(policy, i, NOW, canonicalJson(i.action))).toEqual(plain);
    },
  );

  it('judges each bundle by its own rules when several are in use', () => {
    const strict = variant((raw) => {
      raw.rules = [{ id: 'nothing', tools: ['none.*'], outcome: 'deny', reason: 'no' }];
    });
    expect(judge('dev', 'fs.read_file', { path: 'a' })).toMatchObject({ outcome: 'allow', rule_ids: ['fs-read'] });
    expect(judge('dev', 'fs.read_file', { path: 'a' }, strict)).toMatchObject({ rule_ids: ['default-deny'] });
    expect(judge('dev', 'fs.read_file', { path: 'a' })).toMatchObject({ outcome: 'allow', rule_ids: ['fs-read'] });
  });

  it('stays correct for many distinct tool names (the per-tool memo is bounded)', () => {
    for (let i = 0; i < 5000; i++) {
      expect(judge('ops', `billing.t${i}`).rule_ids).toEqual(['billing']);
    }
    expect(judge('dev', 'billing.t1').rule_ids).toEqual(['role-tools']);
    expect(judge('dev', 'fs.read_file', { path: 'a' }).rule_ids).toEqual(['fs-read']);
  });

  it('a role named like an Object.prototype member is simply not defined', () => {
    const d = judge('constructor', 'fs.read_file', { path: 'a' });
    expect(d).toMatchObject({ outcome: 'deny', rule_ids: ['role-tools'] });
    expect(d.reasons).toEqual(['role constructor is not defined by the policy']);
  });
});

describe('globMatches', () => {
  it.each([
    ['fs.*', 'fs.read_file', true],
    ['fs.*', 'fsx.read', false],
    ['fs.*', 'fs', false],
    ['*', 'any.thing', true],
    ['billing.*', 'billing.charge.card', true],
    ['git.push', 'git.push', true],
    ['git.push', 'git.pushx', false],
    ['git.pu*', 'git.push', true],
  ])('%s ~ %s → %s', (glob, tool, expected) => {
    expect(globMatches(glob, tool)).toBe(expected);
  });
});
