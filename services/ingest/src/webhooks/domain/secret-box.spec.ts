import { randomBytes } from 'node:crypto';
import { SecretBox, decodeKey32 } from './secret-box';

describe('SecretBox (AES-256-GCM)', () => {
  const box = new SecretBox(randomBytes(32));

  it('round-trips and never stores the plaintext', () => {
    const sealed = box.seal('whsec_abc', 'github');
    expect(sealed).not.toContain('whsec_abc');
    expect(sealed.startsWith('v1:')).toBe(true);
    expect(box.open(sealed, 'github')).toBe('whsec_abc');
    expect(box.seal('whsec_abc', 'github')).not.toBe(sealed); // fresh IV each time
  });

  it('refuses a ciphertext bound to another source, a tampered one, and another key', () => {
    const sealed = box.seal('whsec_abc', 'github');
    expect(() => box.open(sealed, 'gitlab')).toThrow();
    const parts = sealed.split(':');
    const ct = Buffer.from(parts[3]!, 'base64url');
    ct.writeUInt8(ct.readUInt8(0) ^ 1, 0);
    parts[3] = ct.toString('base64url');
    expect(() => box.open(parts.join(':'), 'github')).toThrow();
    expect(() => new SecretBox(randomBytes(32)).open(sealed, 'github')).toThrow();
    expect(() => box.open('garbage', 'github')).toThrow('not a sealed secret');
  });

  it('takes 32-byte keys only, as base64 or hex', () => {
    expect(decodeKey32('ab'.repeat(32), 'k')).toHaveLength(32);
    expect(decodeKey32(randomBytes(32).toString('base64'), 'k')).toHaveLength(32);
    expect(() => decodeKey32('c2hvcnQ=', 'WARDEN_SECRETS_KEY')).toThrow('WARDEN_SECRETS_KEY must be 32 bytes');
    expect(() => new SecretBox(randomBytes(16))).toThrow();
  });
});
