import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * AES-256-GCM encryption of secrets at rest (webhook secrets: HMAC needs the secret itself, so it
 * cannot be hashed). The associated data binds a ciphertext to its owner (the source name), so a row
 * copied onto another source does not decrypt. Format: `v1:<iv>:<tag>:<ciphertext>` (base64url).
 */
export class SecretBox {
  private readonly key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new Error('the secrets key must be 32 bytes');
    this.key = key;
  }

  seal(plaintext: string, aad: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(aad, 'utf8'));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return ['v1', iv, cipher.getAuthTag(), ct]
      .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
      .join(':');
  }

  /** Throws if the ciphertext was altered, belongs to another `aad`, or was sealed with another key. */
  open(sealed: string, aad: string): string {
    const [version, iv, tag, ct] = sealed.split(':');
    if (version !== 'v1' || !iv || !tag || ct === undefined) throw new Error('not a sealed secret');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString('utf8');
  }
}

/** 32 bytes from base64 (standard or url) or 64 hex chars. */
export function decodeKey32(value: string, what: string): Buffer {
  const v = value.trim();
  const key = /^[0-9a-f]{64}$/i.test(v) ? Buffer.from(v, 'hex') : Buffer.from(v, 'base64');
  if (key.length !== 32) throw new Error(`${what} must be 32 bytes, base64 or hex (got ${key.length} bytes)`);
  return key;
}

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
