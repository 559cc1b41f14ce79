import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { decodeKey32 } from './domain/secret-box';

/**
 * The secrets key: `WARDEN_SECRETS_KEY` if set; otherwise (development only, `loadConfig` refuses
 * production without it) the key in `file`, created random with mode 0600 on first use so every local
 * process and restart agrees, like `var/signing.key`.
 */
export function loadSecretsKey(envKey: string | undefined, file: string): Buffer {
  if (envKey) return decodeKey32(envKey, 'WARDEN_SECRETS_KEY');
  try {
    return decodeKey32(readFileSync(file, 'utf8'), file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(dirname(file), { recursive: true });
  try {
    writeFileSync(file, randomBytes(32).toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  } catch (err) {
    // another process created it first: use theirs
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  chmodSync(file, 0o600);
  return decodeKey32(readFileSync(file, 'utf8'), file);
}
