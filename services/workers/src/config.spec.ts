import { randomBytes } from 'node:crypto';
import { exportPublicKey, loadSigningKeys, signCanonical, verifyCanonical } from '@warden/kernel';
import { loadConfig, verifierKeys } from './config';

const seed = randomBytes(32).toString('base64');
const pub = exportPublicKey(loadSigningKeys(seed, undefined));

describe('workers config', () => {
  it('fails fast, naming the variable, without a signing key', () => {
    expect(() => loadConfig({})).toThrow(
      /WARDEN_SIGNING_PUBLIC_KEY: set WARDEN_SIGNING_PUBLIC_KEY \(or WARDEN_SIGNING_KEY\)/,
    );
  });

  it('fails fast on a malformed or mismatched key', () => {
    expect(() => loadConfig({ WARDEN_SIGNING_PUBLIC_KEY: 'abcd' })).toThrow(/WARDEN_SIGNING_PUBLIC_KEY: .*32 bytes/);
    const other = exportPublicKey(loadSigningKeys(randomBytes(32).toString('base64'), undefined));
    expect(() => loadConfig({ WARDEN_SIGNING_KEY: seed, WARDEN_SIGNING_PUBLIC_KEY: other })).toThrow(/does not match/);
  });

  it('has the documented defaults', () => {
    const c = loadConfig({ WARDEN_SIGNING_PUBLIC_KEY: pub });
    expect(c.WORKERS_PORT).toBe(7105);
    expect(c.WORKER_ROLES).toEqual(['dev', 'research', 'outreach']);
    expect(c.WARDEN_WORKSPACE).toBe('./var/workspace');
    expect(c.WORKER_ID).toMatch(new RegExp(`-${process.pid}$`));
  });

  it('parses and validates the role list', () => {
    expect(loadConfig({ WARDEN_SIGNING_PUBLIC_KEY: pub, WORKER_ROLES: ' dev , research,dev ' }).WORKER_ROLES).toEqual([
      'dev',
      'research',
    ]);
    expect(() => loadConfig({ WARDEN_SIGNING_PUBLIC_KEY: pub, WORKER_ROLES: 'dev,Bad Role' })).toThrow(
      /WORKER_ROLES\.1: each role/,
    );
    expect(() => loadConfig({ WARDEN_SIGNING_PUBLIC_KEY: pub, WORKER_ROLES: ' , ' })).toThrow(
      /WORKER_ROLES: name at least one role/,
    );
  });

  it('keeps only the public key, whichever variable supplied it', () => {
    const signer = loadSigningKeys(seed, undefined);
    const sig = signCanonical(signer, { a: 1 });
    for (const env of [{ WARDEN_SIGNING_KEY: seed }, { WARDEN_SIGNING_PUBLIC_KEY: pub }]) {
      const keys = verifierKeys(loadConfig(env));
      expect(keys.privateKey).toBeUndefined();
      expect(verifyCanonical(keys, { a: 1 }, sig)).toBe(true);
    }
  });
});
