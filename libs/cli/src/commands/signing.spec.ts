import { PRODUCERS } from '@warden/contracts';
import { EventAuthenticity, makeEnvelope } from '@warden/bus';
import { loadKeyring, newTraceId } from '@warden/kernel';
import { main } from '../index';
import { signingKeys } from './signing';

/** The env a service gets from the printed lines: its own seed and everyone's public keys. */
function envFor(lines: string[], producer: string) {
  const get = (name: string) => lines.find((l) => l.startsWith(`${name}=`))!.slice(name.length + 1);
  return {
    signingKey: get(`WARDEN_${producer.toUpperCase()}_SIGNING_KEY`),
    producerKeys: get('WARDEN_PRODUCER_KEYS'),
  };
}

describe('warden signing-keys', () => {
  it('prints keys that services load and verify each other with, and no producer can sign as another', () => {
    const { lines } = signingKeys([...PRODUCERS]);
    const policy = loadKeyring({ self: 'policy', ...envFor(lines, 'policy') }, PRODUCERS);
    const approvals = loadKeyring({ self: 'approvals', ...envFor(lines, 'approvals') }, PRODUCERS);
    const env = makeEnvelope({
      type: 'decision_made',
      runId: null,
      correlationId: 'x',
      producer: 'policy',
      traceId: newTraceId(),
      data: {} as never,
    });
    const sealed = new EventAuthenticity(policy).seal(env);
    expect(() => new EventAuthenticity(approvals).check(sealed)).not.toThrow();
    // approvals' own key cannot make a policy event
    const byApprovals = new EventAuthenticity(approvals).seal({ ...env, producer: 'approvals' });
    expect(() => new EventAuthenticity(policy).check({ ...byApprovals, producer: 'policy' })).toThrow(/not signed/);
  });

  it('makes one key per named producer, refuses an unknown one', async () => {
    let text = '';
    let err = '';
    const io = {
      stdout: { write: (s: string) => void (text += s) },
      stderr: { write: (s: string) => void (err += s) },
      env: {},
    };
    expect(await main(['signing-keys', 'policy'], io)).toBe(0);
    expect(text.trim().split('\n')).toEqual([
      expect.stringMatching(/^WARDEN_POLICY_SIGNING_KEY=[A-Za-z0-9+/]{43}=$/),
      expect.stringMatching(/^WARDEN_PRODUCER_KEYS=policy=[A-Za-z0-9+/]{43}=$/),
    ]);
    expect(await main(['signing-keys', 'mallory'], io)).toBe(2);
    expect(err).toContain('unknown producer "mallory"');
  });
});
