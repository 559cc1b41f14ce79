import { randomBytes } from 'node:crypto';
import { decisionSigningPayload, type Action, type Decision } from '@warden/contracts';
import { canonicalJson, exportPublicKey, loadSigningKeys, signCanonical, verifyCanonical } from '@warden/kernel';
import { canonicalSigningText, signDecision } from './decision.signature';

const keys = loadSigningKeys(randomBytes(32).toString('base64'), undefined);
const runId = '0b0e8c7a-5d43-4a8e-9a57-2f6a3e1c9d11';

function decision(extra: Partial<Decision> = {}): Decision {
  return {
    mode: 'enforce',
    policy_version: 'v1',
    policy_digest: `sha256:${'a'.repeat(64)}`,
    input_hash: `sha256:${'b'.repeat(64)}`,
    evaluated_at: '2026-11-21T10:00:00.000Z',
    outcome: 'escalate',
    tier: 2,
    rule_ids: ['git-push', 'session-budget'],
    reasons: ['pushing needs an approver', 'é "quoted" \u2028'],
    constraints: { required_votes: 1, max: 1.5e300 },
    trace_id: 'ab'.repeat(16),
    ...extra,
  };
}

const actions: Action[] = [
  { tool: 'git.push', args: {} },
  { tool: 'fs.write_file', args: { path: 'a', content: 'x'.repeat(1000), z: [1, { b: 2, a: 1 }], n: -0 } },
];

describe('decision signing', () => {
  it.each(actions.map((a) => [a.tool, a]))('signs the canonical JSON of the contract payload (%s)', (_tool, action) => {
    const d = decision();
    const expected = canonicalJson(decisionSigningPayload(runId, action, d));
    expect(canonicalSigningText(runId, action, canonicalJson(action), d)).toBe(expected);
    // a signature already present is not signed over
    expect(canonicalSigningText(runId, action, canonicalJson(action), { ...d, signature: 'old' })).toBe(expected);
  });

  it.each(actions.map((a) => [a.tool, a]))(
    'gives byte for byte what signCanonical gives, verifiable with the public key only, and only for this decision (%s)',
    (_tool, action) => {
      const d = decision();
      const sig = signDecision(keys, runId, action, canonicalJson(action), d);
      expect(sig).toBe(signCanonical(keys, decisionSigningPayload(runId, action, d)));
      const publicOnly = loadSigningKeys(undefined, exportPublicKey(keys));
      expect(verifyCanonical(publicOnly, decisionSigningPayload(runId, action, d), sig)).toBe(true);
      expect(verifyCanonical(publicOnly, decisionSigningPayload(runId, action, { ...d, outcome: 'allow' }), sig)).toBe(
        false,
      );
    },
  );

  it('refuses to sign without the private key', () => {
    const verifier = loadSigningKeys(undefined, exportPublicKey(keys));
    expect(() => signDecision(verifier, runId, actions[0]!, canonicalJson(actions[0]), decision())).toThrow(
      /no private signing key/,
    );
  });
});
