import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { loadSecretsKey } from './secrets-key';

describe('loadSecretsKey', () => {
  it('creates a development key file once (mode 0600) and reuses it', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'secrets-')), 'var', 'secrets.key');
    const first = loadSecretsKey(undefined, file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(loadSecretsKey(undefined, file).equals(first)).toBe(true);
    expect(readFileSync(file, 'utf8').trim()).toBe(first.toString('base64'));
    const env = randomBytes(32);
    expect(loadSecretsKey(env.toString('base64'), file).equals(env)).toBe(true);
  });
});
