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
  /** Further public keys whose signatures verify: a key rotation's other key (verification only). */
  acceptedPublicKeys?: KeyObject[];
  /** MAC keys of further seeds whose decisions verify: a key rotation's other key (verification only). */
  acceptedMacKeys?: Buffer[];
}

/**
 * Keys accepted besides the current one while a rotation is under way (`WARDEN_SIGNING_ACCEPT_KEYS`:
 * seeds; `WARDEN_SIGNING_ACCEPT_PUBLIC_KEYS`: public keys); comma-separated base64/hex or PEM blocks.
 */
export interface AcceptedKeys {
  seeds?: string;
  publicKeys?: string;
}

const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** Decodes a 32-byte key given as base64, hex or an Ed25519 PEM block; `what` names it in errors. */
export function decodeKey(text: string, what: string): Buffer {
  const trimmed = text.trim();
  if (trimmed.includes('-----BEGIN')) return decodePem(trimmed, what);
  const buf = /^[0-9a-f]{64}$/i.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64');
  if (buf.length !== 32) throw new Error(`${what} must be 32 bytes (base64 or hex), got ${buf.length}`);
  return buf;
}

/** The raw 32 bytes of an Ed25519 PEM key: a PKCS#8 private key gives its seed, an SPKI public key its point. */
function decodePem(pem: string, what: string): Buffer {
  try {
    if (pem.includes('PRIVATE KEY')) {
      const k = createPrivateKey(pem);
      if (k.asymmetricKeyType !== 'ed25519') throw new Error(`is a ${k.asymmetricKeyType} key, not ed25519`);
      return k.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_ED25519_PREFIX.length);
    }
    const k = createPublicKey(pem);
    if (k.asymmetricKeyType !== 'ed25519') throw new Error(`is a ${k.asymmetricKeyType} key, not ed25519`);
    return k.export({ format: 'der', type: 'spki' }).subarray(SPKI_ED25519_PREFIX.length);
  } catch (err) {
    throw new Error(`${what}: not a usable Ed25519 PEM key (${(err as Error).message})`);
  }
}

function macKeyOf(seed: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', seed, Buffer.alloc(0), 'warden decision mac v1', 32));
}

/** An Ed25519 private key from its 32-byte seed. */
export function ed25519PrivateKey(seed: Buffer): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

/** An Ed25519 public key from its raw 32 bytes. */
export function ed25519PublicKey(raw: Buffer): KeyObject {
  return publicKeyOf(raw);
}

function publicKeyOf(raw: Buffer): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
}

/** Splits a list of keys: commas or newlines between base64/hex keys; PEM blocks kept whole. */
export function splitKeys(list: string | undefined): string[] {
  if (!list?.trim()) return [];
  const pems = list.match(/-----BEGIN [A-Z ]+-----[\s\S]*?-----END [A-Z ]+-----/g) ?? [];
  const rest = list.replace(/-----BEGIN [A-Z ]+-----[\s\S]*?-----END [A-Z ]+-----/g, ',');
  return [
    ...pems,
    ...rest
      .split(/[,\s]+/)
      .map((k) => k.trim())
      .filter(Boolean),
  ];
}

/**
 * Keys from `WARDEN_SIGNING_KEY` (private seed) and/or `WARDEN_SIGNING_PUBLIC_KEY`.
 * Verifiers (workers) should get only the public key in production.
 * @example const keys = loadSigningKeys(process.env.WARDEN_SIGNING_KEY, undefined)
 */
export function loadSigningKeys(
  seed: string | undefined,
  publicKey: string | undefined,
  accepted: AcceptedKeys = {},
): SigningKeys {
  const acceptSeeds = splitKeys(accepted.seeds).map((k) => decodeKey(k, 'WARDEN_SIGNING_ACCEPT_KEYS'));
  const acceptPublic = [
    ...acceptSeeds.map((raw) =>
      createPublicKey(
        createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, raw]), format: 'der', type: 'pkcs8' }),
      ),
    ),
    ...splitKeys(accepted.publicKeys).map((k) => publicKeyOf(decodeKey(k, 'WARDEN_SIGNING_ACCEPT_PUBLIC_KEYS'))),
  ];
  const rotation = {
    ...(acceptPublic.length ? { acceptedPublicKeys: acceptPublic } : {}),
    ...(acceptSeeds.length ? { acceptedMacKeys: acceptSeeds.map(macKeyOf) } : {}),
  };
  if (seed) {
    const raw = decodeKey(seed, 'WARDEN_SIGNING_KEY');
    const privateKey = createPrivateKey({
      key: Buffer.concat([PKCS8_ED25519_PREFIX, raw]),
      format: 'der',
      type: 'pkcs8',
    });
    return { privateKey, publicKey: createPublicKey(privateKey), macKey: macKeyOf(raw), ...rotation };
  }
  if (publicKey) return { publicKey: publicKeyOf(decodeKey(publicKey, 'WARDEN_SIGNING_PUBLIC_KEY')), ...rotation };
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

/** Signatures (with their exact text) that verified, per key set: a process checks one decision several times. */
const verifiedByKeys = new WeakMap<SigningKeys, Map<string, true>>();
const VERIFIED_MAX = 4096;

/**
 * Verifies a signature made by {@link signCanonical}; false on any malformed input. A success is
 * remembered for this exact key set, signature and canonical text (the last 4,096), so checking the
 * same signed payload again costs a lookup instead of an Ed25519 verification; failures are not.
 */
export function verifyCanonical(keys: SigningKeys, payload: unknown, signature: string): boolean {
  try {
    const text = canonicalJson(payload);
    const seen = verifiedByKeys.get(keys) ?? new Map<string, true>();
    const key = `${signature}\n${text}`;
    if (seen.has(key)) return true;
    const data = Buffer.from(text);
    const sig = Buffer.from(signature, 'base64');
    const ok = [keys.publicKey, ...(keys.acceptedPublicKeys ?? [])].some((k) => verify(null, data, k, sig));
    if (ok) {
      if (seen.size >= VERIFIED_MAX) seen.delete(seen.keys().next().value!);
      seen.set(key, true);
      verifiedByKeys.set(keys, seen);
    }
    return ok;
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
  const text = canonicalJson(payload);
  const given = Buffer.from(mac);
  // every key is tried (no early exit), so timing says nothing about which one matched
  let ok = false;
  for (const key of [keys.macKey, ...(keys.acceptedMacKeys ?? [])]) {
    const expected = Buffer.from(MAC_PREFIX + createHmac('sha256', key).update(text).digest('base64'));
    if (expected.length === given.length && timingSafeEqual(expected, given)) ok = true;
  }
  return ok;
}
