import { canonicalJson, sha256Canonical } from './canonical';
import { v5 as uuidv5 } from 'uuid';
import { deriveId } from './ids';
import {
  loadSigningKeys,
  macCanonical,
  signCanonical,
  verifyCanonical,
  verifyMacCanonical,
  exportPublicKey,
} from './signing';
import { randomBytes } from 'node:crypto';

describe('canonical JSON (RFC 8785)', () => {
  it('sorts keys at every depth and normalises numbers', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, 2], c: 'x' } })).toBe('{"a":{"c":"x","d":[1,2]},"b":1}');
  });
  it('hashes equal values equally regardless of key order', () => {
    expect(sha256Canonical({ x: 1, y: 2 })).toBe(sha256Canonical({ y: 2, x: 1 }));
    expect(sha256Canonical({ x: 1 })).not.toBe(sha256Canonical({ x: 2 }));
  });
});

describe('deriveId', () => {
  it('is deterministic and separates its parts', () => {
    expect(deriveId('a', 'b')).toBe(deriveId('a', 'b'));
    expect(deriveId('ab', 'c')).not.toBe(deriveId('a', 'bc'));
  });
  it('is exactly RFC 4122 v5 in the Warden namespace', () => {
    for (const parts of [['a'], ['run', 'WARDEN_INGEST', '42'], ['ünïcode', '']]) {
      expect(deriveId(...parts)).toBe(uuidv5(parts.join('\u0000'), '6f1f6b0e-5b8a-4c1e-9d5c-3f0c7f6a2b11'));
    }
  });
});

describe('Ed25519 signing', () => {
  const seed = randomBytes(32).toString('base64');
  it('verifies with the seed or with the exported public key only', () => {
    const keys = loadSigningKeys(seed, undefined);
    const sig = signCanonical(keys, { run_id: 'r', n: 1 });
    expect(verifyCanonical(keys, { n: 1, run_id: 'r' }, sig)).toBe(true);
    const verifier = loadSigningKeys(undefined, exportPublicKey(keys));
    expect(verifyCanonical(verifier, { run_id: 'r', n: 1 }, sig)).toBe(true);
    expect(verifyCanonical(verifier, { run_id: 'r', n: 2 }, sig)).toBe(false);
    expect(verifyCanonical(verifier, { run_id: 'r', n: 1 }, 'garbage')).toBe(false);
    expect(() => signCanonical(verifier, {})).toThrow(/no private/);
  });
  it('a remembered success is bound to its key set and exact text: never to another payload or another key', () => {
    const keys = loadSigningKeys(seed, undefined);
    const other = loadSigningKeys(randomBytes(32).toString('base64'), undefined);
    const sig = signCanonical(keys, { run_id: 'r', n: 7 });
    // verified twice (the second from memory), then the same signature on anything else still fails
    expect(verifyCanonical(keys, { run_id: 'r', n: 7 }, sig)).toBe(true);
    expect(verifyCanonical(keys, { n: 7, run_id: 'r' }, sig)).toBe(true);
    expect(verifyCanonical(keys, { run_id: 'r', n: 8 }, sig)).toBe(false);
    expect(verifyCanonical(keys, { run_id: 'r', n: 7, extra: true }, sig)).toBe(false);
    expect(verifyCanonical(other, { run_id: 'r', n: 7 }, sig)).toBe(false);
    // a failure is not remembered as anything: the genuine pair still verifies afterwards
    expect(verifyCanonical(other, { run_id: 'r', n: 7 }, signCanonical(other, { run_id: 'r', n: 7 }))).toBe(true);
    // a remembered signature with one character changed is checked afresh, and fails
    const tampered = `${sig.slice(0, 10)}${sig[10] === 'A' ? 'B' : 'A'}${sig.slice(11)}`;
    expect(verifyCanonical(keys, { run_id: 'r', n: 7 }, tampered)).toBe(false);
  });
  it('authenticates decisions with an HMAC only seed holders can make or check', () => {
    const keys = loadSigningKeys(seed, undefined);
    const mac = macCanonical(keys, { run_id: 'r', n: 1 });
    expect(mac).toMatch(/^hmac-sha256:/);
    expect(verifyMacCanonical(keys, { n: 1, run_id: 'r' }, mac)).toBe(true);
    expect(verifyMacCanonical(keys, { n: 2, run_id: 'r' }, mac)).toBe(false);
    expect(
      verifyMacCanonical(loadSigningKeys(randomBytes(32).toString('hex'), undefined), { n: 1, run_id: 'r' }, mac),
    ).toBe(false);
    const verifier = loadSigningKeys(undefined, exportPublicKey(keys));
    expect(verifyMacCanonical(verifier, { n: 1, run_id: 'r' }, mac)).toBe(false);
    expect(() => macCanonical(verifier, {})).toThrow(/no MAC key/);
    expect(verifyMacCanonical(keys, { n: 1, run_id: 'r' }, mac.slice(0, -2))).toBe(false);
  });
  it('rejects keys of the wrong size', () => {
    expect(() => loadSigningKeys('abcd', undefined)).toThrow(/32 bytes/);
  });
});
