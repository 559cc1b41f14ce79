import {
  createHmac,
  createPrivateKey,
  createPublicKey,
  hkdfSync,
  sign,
  timingSafeEqual,
  verify,
  type KeyObject,
} from 'node:crypto';
import { canonicalJson } from './canonical';

/** Ed25519 key material loaded from a 32-byte seed (base64 or hex). */
export interface SigningKeys {
  privateKey?: KeyObject;
  publicKey: KeyObject;
  /**
   * HMAC-SHA256 key derived (HKDF) from the seed: what policy and orchestrator, the only holders of
   * the seed, use between themselves for decisions. Absent for verifiers holding only the public key.
   */
  macKey?: Buffer;
}

const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

function decodeKey(text: string, what: string): Buffer {
  const trimmed = text.trim();
  const buf = /^[0-9a-f]{64}$/i.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64');
  if (buf.length !== 32) throw new Error(`${what} must be 32 bytes (base64 or hex), got ${buf.length}`);
  return buf;
}

/**
 * Keys from `WARDEN_SIGNING_KEY` (private seed) and/or `WARDEN_SIGNING_PUBLIC_KEY`.
 * Verifiers (workers) should get only the public key in production.
 * @example const keys = loadSigningKeys(process.env.WARDEN_SIGNING_KEY, undefined)
 */
export function loadSigningKeys(seed: string | undefined, publicKey: string | undefined): SigningKeys {
  if (seed) {
    const privateKey = createPrivateKey({
      key: Buffer.concat([PKCS8_ED25519_PREFIX, decodeKey(seed, 'WARDEN_SIGNING_KEY')]),
      format: 'der',
      type: 'pkcs8',
    });
    const macKey = Buffer.from(
      hkdfSync('sha256', decodeKey(seed, 'WARDEN_SIGNING_KEY'), Buffer.alloc(0), 'warden decision mac v1', 32),
    );
    return { privateKey, publicKey: createPublicKey(privateKey), macKey };
  }
  if (publicKey) {
    return {
      publicKey: createPublicKey({
        key: Buffer.concat([SPKI_ED25519_PREFIX, decodeKey(publicKey, 'WARDEN_SIGNING_PUBLIC_KEY')]),
        format: 'der',
        type: 'spki',
      }),
    };
  }
  throw new Error('WARDEN_SIGNING_KEY or WARDEN_SIGNING_PUBLIC_KEY must be set');
}

/** The raw 32-byte public key, base64, for handing to verifiers. */
export function exportPublicKey(keys: SigningKeys): string {
  return keys.publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_ED25519_PREFIX.length).toString('base64');
}

/** Ed25519 signature (base64) over the canonical JSON of `payload`. */
export function signCanonical(keys: SigningKeys, payload: unknown): string {
  return signCanonicalText(keys, canonicalJson(payload));
}

/**
 * Ed25519 signature (base64) over text the caller already canonicalised (RFC 8785); for hot paths
 * that compose canonical JSON from parts they have already serialised.
 * @example signCanonicalText(keys, canonicalJson(payload)) === signCanonical(keys, payload)
 */
export function signCanonicalText(keys: SigningKeys, canonicalText: string): string {
  if (!keys.privateKey) throw new Error('no private signing key loaded');
  return sign(null, Buffer.from(canonicalText), keys.privateKey).toString('base64');
}

/** Verifies a signature made by {@link signCanonical}; false on any malformed input. */
export function verifyCanonical(keys: SigningKeys, payload: unknown, signature: string): boolean {
  try {
    return verify(null, Buffer.from(canonicalJson(payload)), keys.publicKey, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}

const MAC_PREFIX = 'hmac-sha256:';

/**
 * `hmac-sha256:<base64>` over canonical text, with the key only seed holders have. Cheap enough for
 * every decision (Ed25519 is kept for what verifiers without the seed must check: worker commands).
 * @example macCanonicalText(keys, canonicalJson(payload)) === macCanonical(keys, payload)
 */
export function macCanonicalText(keys: SigningKeys, canonicalText: string): string {
  if (!keys.macKey) throw new Error('no MAC key: WARDEN_SIGNING_KEY is needed to authenticate decisions');
  return MAC_PREFIX + createHmac('sha256', keys.macKey).update(canonicalText).digest('base64');
}

/** {@link macCanonicalText} of the canonical JSON of `payload`. */
export function macCanonical(keys: SigningKeys, payload: unknown): string {
  return macCanonicalText(keys, canonicalJson(payload));
}

/** Constant-time check of a MAC made by {@link macCanonical}; false on anything malformed. */
export function verifyMacCanonical(keys: SigningKeys, payload: unknown, mac: string): boolean {
  if (!keys.macKey || !mac.startsWith(MAC_PREFIX)) return false;
  const expected = Buffer.from(macCanonical(keys, payload));
  const given = Buffer.from(mac);
  return expected.length === given.length && timingSafeEqual(expected, given);
}
