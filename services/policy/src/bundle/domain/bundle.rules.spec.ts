import { DomainError, ValidationError } from '@warden/kernel';
import { parseBundle } from '@warden/policy-language';
import { compilePushed, compileStored, storedBundleOf } from './bundle.rules';

const TEXT = `
version: 'rules-test.1'
mode: enforce
tiers: { 1: { required_votes: 0 }, 2: { required_votes: 1 }, 3: { required_votes: 2 } }
roles: { dev: { tools: [fs.read_file, deploy.production, deploy.canary] } }
rules: [{ id: read, tools: [fs.read_file], outcome: allow, reason: ok }]
`;

describe('compilePushed', () => {
  it('given a valid bundle, then it is compiled with its digest', () => {
    expect(compilePushed(TEXT)).toMatchObject({
      digest: parseBundle(TEXT).digest,
      bundle: { version: 'rules-test.1' },
    });
  });

  it('given a bundle with a schema error, then a ValidationError naming the path', () => {
    expect(() => compilePushed(TEXT.replace('mode: enforce', 'mode: sometimes'))).toThrow(ValidationError);
    try {
      compilePushed(TEXT.replace('mode: enforce', 'mode: sometimes'));
    } catch (err) {
      expect((err as ValidationError).errors.map((e) => e.path)).toContain('mode');
    }
  });

  it('given a bundle whose tests rewrite to an action no worker can run, then a ValidationError', () => {
    const text = `${TEXT.replace(
      'rules: [',
      `rules:
  - { id: canary, tools: [deploy.production], outcome: compute, compute: { recipe: canary, with: { percent: 10 } }, reason: canary }
  - { id: canary-ok, tools: [deploy.canary], outcome: allow, reason: ok }
  - `,
    ).replace(/\]\n$/, '\n')}
tests:
  - name: deploy
    input: { agent: { role: dev }, tool: deploy.production, args: { replicas: 3 } }
    expect: { outcome: compute }
`;
    expect(() => parseBundle(text)).not.toThrow();
    let caught: unknown;
    try {
      compilePushed(text);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ValidationError);
    expect((caught as ValidationError).errors).toEqual([
      {
        path: 'tests.0',
        message: expect.stringMatching(/^deploy: rewrite deploy\.canary: args\.replicas: .*no worker could execute it/),
      },
    ]);
  });
});

describe('compileStored', () => {
  const digest = parseBundle(TEXT).digest;

  it('given the stored source of that digest, then the compiled bundle', () => {
    expect(compileStored(TEXT, digest).digest).toBe(digest);
  });

  it('given a source that parses to another digest, then POLICY.BUNDLE_INVALID naming both', () => {
    const other = `sha256:${'1'.repeat(64)}`;
    expect(() => compileStored(TEXT, other)).toThrow(
      expect.objectContaining({
        code: 'POLICY.BUNDLE_INVALID',
        message: `stored bundle ${other} now parses to ${digest}`,
      }),
    );
  });

  it('given a source that no longer validates, then POLICY.BUNDLE_INVALID (a DomainError, not a 400)', () => {
    let caught: unknown;
    try {
      compileStored(TEXT.replace('mode: enforce', 'mode: sometimes'), digest);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(DomainError);
    expect(caught).not.toBeInstanceOf(ValidationError);
    expect(caught).toMatchObject({ code: 'POLICY.BUNDLE_INVALID' });
    expect((caught as Error).message).toMatch(new RegExp(`^stored bundle ${digest} no longer validates: `));
  });
});

describe('storedBundleOf', () => {
  const row = {
    digest: 'sha256:a',
    version: 'v1',
    created_at: new Date('2026-11-21T10:00:00.000Z'),
    created_by: 'file:deploy/policies/default.yaml',
    last: new Date('2026-11-21T11:00:00.000Z'),
  };

  it('given the active bundle’s row, then ISO times and active', () => {
    expect(storedBundleOf(row, 'sha256:a')).toEqual({
      digest: 'sha256:a',
      version: 'v1',
      created_at: '2026-11-21T10:00:00.000Z',
      created_by: 'file:deploy/policies/default.yaml',
      last_activated_at: '2026-11-21T11:00:00.000Z',
      active: true,
    });
  });

  it('given a bundle never activated and not active, then last_activated_at null and inactive', () => {
    expect(storedBundleOf({ ...row, last: null }, 'sha256:b')).toMatchObject({
      last_activated_at: null,
      active: false,
    });
  });
});
