import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { loadConfig, resolvePolicyFile } from './config';

const key = randomBytes(32).toString('base64');

describe('policy config', () => {
  it('fails fast without a signing key, naming the variable', () => {
    expect(() => loadConfig({})).toThrow(/WARDEN_SIGNING_KEY: is required/);
    expect(() => loadConfig({ WARDEN_SIGNING_KEY: '' })).toThrow(/WARDEN_SIGNING_KEY: is required/);
  });

  it('refuses a signing key of the wrong size', () => {
    expect(() => loadConfig({ WARDEN_SIGNING_KEY: 'abcd' })).toThrow(/WARDEN_SIGNING_KEY: .*32 bytes/);
  });

  it('defaults the port and finds the shipped bundle', () => {
    const c = loadConfig({ WARDEN_SIGNING_KEY: key });
    expect(c.POLICY_PORT).toBe(7102);
    expect(c.WARDEN_POLICY_FILE).toMatch(/deploy\/policies\/default\.yaml$/);
    expect(existsSync(c.WARDEN_POLICY_FILE)).toBe(true);
  });

  it('finds the shipped bundle from any working directory', () => {
    const p = resolvePolicyFile(undefined, '/');
    expect(existsSync(p)).toBe(true);
  });

  it('resolves an explicit WARDEN_POLICY_FILE against the working directory', () => {
    expect(resolvePolicyFile('policies/p.yaml', '/srv/app')).toBe(join('/srv/app', 'policies/p.yaml'));
    expect(resolvePolicyFile('/etc/warden/p.yaml', '/srv/app')).toBe('/etc/warden/p.yaml');
  });
});
