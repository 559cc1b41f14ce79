import { randomBytes } from 'node:crypto';
import { DomainError, ValidationError, loadSigningKeys, sha256Canonical, type SigningKeys } from '@warden/kernel';
import { resign, signedCommand, testDecision } from '../../../test/signed-command';
import { authenticate, parseExecuteCommand, refusalReason } from './authenticity';

const signer = loadSigningKeys(randomBytes(32).toString('base64'), undefined);
const verifier: SigningKeys = { publicKey: signer.publicKey };
const action = { tool: 'fs.write_file', args: { path: 'a.txt', content: 'hi' } };

function refusal(fn: () => unknown): DomainError {
  try {
    fn();
  } catch (err) {
    if (err instanceof DomainError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('authenticate', () => {
  it('accepts a signed allow command on its own role and returns its action', () => {
    const cmd = signedCommand(signer, action);
    expect(authenticate(verifier, cmd, 'dev')).toEqual(action);
  });

  it('refuses a command signed by another key as COMMAND.FORGED', () => {
    const other = loadSigningKeys(randomBytes(32).toString('base64'), undefined);
    const err = refusal(() => authenticate(verifier, signedCommand(other, action), 'dev'));
    expect(err.code).toBe('COMMAND.FORGED');
    expect(refusalReason(err)).toBe('forged');
  });

  it('refuses a tampered action, run id or approval as COMMAND.FORGED', () => {
    const cmd = signedCommand(signer, action);
    expect(
      refusal(() =>
        authenticate(verifier, { ...cmd, action: { ...action, args: { path: '../x', content: 'hi' } } }, 'dev'),
      ).code,
    ).toBe('COMMAND.FORGED');
    expect(
      refusal(() => authenticate(verifier, { ...cmd, run_id: '00000000-0000-4000-8000-000000000000' }, 'dev')).code,
    ).toBe('COMMAND.FORGED');
    expect(
      refusal(() => authenticate(verifier, { ...cmd, approval_id: '00000000-0000-4000-8000-000000000000' }, 'dev'))
        .code,
    ).toBe('COMMAND.FORGED');
  });

  it('refuses a swapped decision whose hash no longer matches as COMMAND.DECISION_TAMPERED', () => {
    const cmd = signedCommand(signer, action, { decision: testDecision({ outcome: 'deny' }) });
    const swapped = { ...cmd, decision: { ...cmd.decision, outcome: 'allow' as const } };
    expect(refusal(() => authenticate(verifier, swapped, 'dev')).code).toBe('COMMAND.DECISION_TAMPERED');
  });

  it("refuses a command delivered on another role's subject as COMMAND.ROLE_MISMATCH", () => {
    const cmd = signedCommand(signer, action, { role: 'research' });
    const err = refusal(() => authenticate(verifier, cmd, 'dev'));
    expect(err.code).toBe('COMMAND.ROLE_MISMATCH');
    expect(refusalReason(err)).toBe('role_mismatch');
  });

  it('refuses a deny decision, and an escalation without approval', () => {
    const denied = signedCommand(signer, action, { decision: testDecision({ outcome: 'deny' }) });
    expect(refusal(() => authenticate(verifier, denied, 'dev')).code).toBe('COMMAND.NOT_PERMITTED');
    const escalated = signedCommand(signer, action, { decision: testDecision({ outcome: 'escalate', tier: 2 }) });
    expect(refusal(() => authenticate(verifier, escalated, 'dev')).code).toBe('COMMAND.NOT_PERMITTED');
  });

  it('accepts an approved escalation and any outcome in observe mode', () => {
    const approved = signedCommand(signer, action, {
      decision: testDecision({ outcome: 'escalate', tier: 2 }),
      approval_id: '3b1f0c9e-2f55-4d39-9a43-5a3a0e0a7c11',
    });
    expect(authenticate(verifier, approved, 'dev')).toEqual(action);
    const observed = signedCommand(signer, action, { decision: testDecision({ outcome: 'deny', mode: 'observe' }) });
    expect(authenticate(verifier, observed, 'dev')).toEqual(action);
  });

  it('executes a compute decision only as its rewritten action', () => {
    const rewritten = { tool: 'fs.write_file', args: { path: 'safe/a.txt', content: 'hi' } };
    const ok = signedCommand(signer, rewritten, {
      decision: testDecision({ outcome: 'compute', rewritten_action: rewritten }),
    });
    expect(authenticate(verifier, ok, 'dev')).toEqual(rewritten);
    const original = signedCommand(signer, action, {
      decision: testDecision({ outcome: 'compute', rewritten_action: rewritten }),
    });
    expect(refusal(() => authenticate(verifier, original, 'dev')).code).toBe('COMMAND.ACTION_MISMATCH');
    const noRewrite = signedCommand(signer, action, { decision: testDecision({ outcome: 'compute' }) });
    expect(refusal(() => authenticate(verifier, noRewrite, 'dev')).code).toBe('COMMAND.ACTION_MISMATCH');
  });

  it('refuses a validly signed command whose decision_hash is not the hash of its decision', () => {
    const cmd = signedCommand(signer, action);
    const other = testDecision({ outcome: 'allow', reasons: ['something else'] });
    // the signer signed a digest of another decision than the one carried
    const mismatched = resign(signer, { ...cmd, decision_hash: sha256Canonical(other) });
    expect(refusal(() => authenticate(verifier, mismatched, 'dev')).code).toBe('COMMAND.DECISION_TAMPERED');
  });
});

describe('parseExecuteCommand', () => {
  it('names every bad field', () => {
    const cmd = signedCommand(signer, action);
    let err: unknown;
    try {
      parseExecuteCommand({ ...cmd, run_id: 'nope', signature: '' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    const paths = (err as ValidationError).errors.map((e) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['run_id', 'signature']));
    expect(refusalReason(err as ValidationError)).toBe('invalid');
  });
});
