import { generateKeyPairSync } from 'node:crypto';
import { grantSigningPayload, type ExecutionGrant, type ExecutionReportRequest } from '@warden/contracts';
import { sha256Canonical, signCanonical, type SigningKeys } from '@warden/kernel';
import { checkReport } from './report';

const keys = (): SigningKeys => generateKeyPairSync('ed25519');
const orchestrator = keys();
const RUN = '55555555-5555-4555-8555-555555555555';
const NOW = new Date('2026-12-03T10:00:00.000Z');
const action = { tool: 'fs.write_file', args: { path: 'a.md', content: 'x' } };
const grant: ExecutionGrant = {
  grant_id: '66666666-6666-4666-8666-666666666666',
  run_id: RUN,
  agent: { id: 'agent-7', role: 'dev' },
  action,
  action_hash: sha256Canonical(action),
  policy_digest: sha256Canonical('policy'),
  issued_at: '2026-12-03T09:59:00.000Z',
  expires_at: '2026-12-03T10:05:00.000Z',
};
function report(o: Partial<ExecutionReportRequest> = {}, signer = orchestrator): ExecutionReportRequest {
  const g = o.grant ?? grant;
  return {
    grant: g,
    signature: signCanonical(signer, grantSigningPayload(g)),
    action_hash: g.action_hash,
    outcome: { output: { ok: true }, output_hash: sha256Canonical({ ok: true }) },
    ...o,
  };
}

describe('checkReport', () => {
  it('given a signed, current grant reported by a key bound to its agent, then acceptable', () => {
    expect(checkReport(report(), RUN, 'ok', orchestrator, NOW)).toBeUndefined();
  });

  it('given a grant signed by another key, then GRANT.BAD_SIGNATURE (before the binding is looked at)', () => {
    expect(checkReport(report({}, keys()), RUN, 'unbound', orchestrator, NOW)).toMatchObject({
      code: 'GRANT.BAD_SIGNATURE',
      path: 'signature',
    });
  });

  it('given a grant for another run, then GRANT.RUN_MISMATCH', () => {
    expect(checkReport(report(), '77777777-7777-4777-8777-777777777777', 'ok', orchestrator, NOW)).toMatchObject({
      code: 'GRANT.RUN_MISMATCH',
      path: 'grant.run_id',
    });
  });

  it('given a key without a binding, then KEY.NOT_BOUND', () => {
    expect(checkReport(report(), RUN, 'unbound', orchestrator, NOW)).toMatchObject({ code: 'KEY.NOT_BOUND' });
  });

  it("given a key bound outside the grant's agent, then KEY.AGENT_MISMATCH naming the agent", () => {
    expect(checkReport(report(), RUN, 'outside', orchestrator, NOW)).toEqual({
      code: 'KEY.AGENT_MISMATCH',
      detail: 'this API key does not speak for agent "agent-7" (dev)',
      path: 'grant.agent',
    });
  });

  it('given a report naming another action hash, then GRANT.ACTION_MISMATCH', () => {
    expect(checkReport(report({ action_hash: sha256Canonical('other') }), RUN, 'ok', orchestrator, NOW)).toMatchObject({
      code: 'GRANT.ACTION_MISMATCH',
      path: 'action_hash',
    });
  });

  it('given a report after the grant expired, then GRANT.EXPIRED; at the very deadline still acceptable', () => {
    expect(checkReport(report(), RUN, 'ok', orchestrator, new Date('2026-12-03T10:05:00.001Z'))).toMatchObject({
      code: 'GRANT.EXPIRED',
    });
    expect(checkReport(report(), RUN, 'ok', orchestrator, new Date('2026-12-03T10:05:00.000Z'))).toBeUndefined();
  });

  it('given an output whose hash is not output_hash, then VALIDATION.OUTPUT_HASH', () => {
    const outcome = { output: { ok: false }, output_hash: sha256Canonical({ ok: true }) };
    expect(checkReport(report({ outcome }), RUN, 'ok', orchestrator, NOW)).toMatchObject({
      code: 'VALIDATION.OUTPUT_HASH',
      path: 'outcome.output_hash',
    });
    expect(
      checkReport(report({ outcome: { output_hash: outcome.output_hash } }), RUN, 'ok', orchestrator, NOW),
    ).toBeUndefined();
  });
});
