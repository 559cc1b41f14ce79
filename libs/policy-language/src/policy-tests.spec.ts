import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ValidationError } from '@warden/kernel';
import { parseBundle } from './bundle';
import { runPolicyTests, unexecutableRewrites } from './policy-tests';

const STRICT = readFileSync(resolve(__dirname, '../../../deploy/policies/examples/strict.yaml'), 'utf8');

describe('policy tests check that every rewrite can execute', () => {
  it('strict.yaml: every recipe’s rewrite fits a worker tool the role has', () => {
    const p = parseBundle(STRICT);
    expect(runPolicyTests(p).filter((r) => !r.passed)).toEqual([]);
    expect(unexecutableRewrites(p)).toEqual([]);
  });

  it('a rewrite to a tool no worker has fails its test and refuses the bundle', () => {
    const p = parseBundle(
      STRICT.replace(
        'compute: { recipe: email_draft }',
        'compute: { recipe: email_draft, with: { tool: email.queue } }',
      )
        .replace('{ id: email-drafts, tools: [email.draft]', '{ id: email-drafts, tools: [email.queue]')
        .replace('outreach: { tools: [email.send, email.draft,', 'outreach: { tools: [email.send, email.queue,'),
    );
    const failed = runPolicyTests(p).filter((r) => !r.passed);
    expect(failed.map((r) => r.name)).toEqual(['email becomes a draft']);
    expect(failed[0]!.failures).toEqual([
      'rewritten tool: expected "email.draft", got "email.queue"',
      'rewrite email.queue: tool: no worker has a tool "email.queue" (no worker could execute it)',
    ]);
    expect(unexecutableRewrites(p)).toEqual([
      {
        path: 'tests.4',
        message:
          'email becomes a draft: rewrite email.queue: tool: no worker has a tool "email.queue" (no worker could execute it)',
      },
    ]);
  });

  it('a recipe carrying an argument the target tool does not take is named by field', () => {
    const p = parseBundle(
      STRICT.replace('args: { to: a@example.com } }', 'args: { to: a@example.com, priority: high } }'),
    );
    const r = runPolicyTests(p).find((x) => x.name === 'email becomes a draft')!;
    expect(r.failures).toEqual(['rewrite email.draft: args.priority: unknown field (no worker could execute it)']);
  });
});

describe('bundle constraints', () => {
  const bundle = (constraints: string) => `version: t
tiers: { 1: { required_votes: 0 }, 2: { required_votes: 1 }, 3: { required_votes: 2 } }
roles: { dev: { tools: [shell.exec] } }
rules: [{ id: s, tools: [shell.exec], outcome: allow, constraints: ${constraints}, reason: ok }]
`;

  it('takes every constraint a worker enforces', () => {
    expect(() =>
      parseBundle(
        bundle(
          '{ timeout_seconds: 5, max_output_bytes: 100, env_allow: [PATH, LC_*], allowed_hosts: [a.example], http_hosts: [b.example], http_allow_private: false }',
        ),
      ),
    ).not.toThrow();
  });

  it('refuses one no worker enforces, naming it and the line', () => {
    let err: unknown;
    try {
      parseBundle(bundle('{ timeout_seconds: 5, max_memory_mb: 64 }'));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).errors).toEqual([
      {
        path: 'rules.0.constraints.max_memory_mb',
        message: expect.stringMatching(
          /^no worker enforces "max_memory_mb" \(constraints: .*timeout_seconds.*\) \(line 4\)$/,
        ) as unknown as string,
      },
    ]);
  });
});
