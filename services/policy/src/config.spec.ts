import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, resolvePolicyFile } from './config';

describe('policy config', () => {
  it('defaults the port and finds the shipped bundle', () => {
    const c = loadConfig({});
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
