import { createPublicKey, hkdfSync, sign, verify, type KeyObject } from 'node:crypto';
import { decodeKey, ed25519PrivateKey, ed25519PublicKey, splitKeys, type SigningKeys } from './signing';

/**
 * One service's signing identity and every producer's public keys: what signs the events this
 * service emits and what verifies the events it consumes. Each producing service has its own
 * Ed25519 key; a verifier trusts a producer's signature only with that producer's public key(s).
 */
export interface Keyring {
  /** The producer this process signs as (its service name). */
  self: string;
  privateKey?: KeyObject;
  /** Public keys per producer; several during a rotation (the first is the current one). */
  trusted: ReadonlyMap<string, readonly KeyObject[]>;
}

/** Where a keyring's keys come from (env names in parentheses). */
export interface KeyringSource {
  /** The service name: the producer this process signs as. */
  self: string;
  /** This service's own Ed25519 seed (`WARDEN_SIGNING_KEY`), 32 bytes base64/hex or PEM. */
  signingKey?: string;
  /**
   * Every producer's public key (`WARDEN_PRODUCER_KEYS`): `policy=<key>,orchestrator=<key>,…`;
   * repeat a producer to accept several keys while one rotates.
   */
  producerKeys?: string;
  /**
   * Development and tests only (`WARDEN_KEYRING_SEED`): one seed from which every producer's key is
   * derived (HKDF), so one value configures a whole local system. Refused in production.
   */
  keyringSeed?: string;
  production?: boolean;
}

const ED25519_PREFIX = 'ed25519:';

/**
 * The seed a producer's key is derived from in development: HKDF-SHA256(keyring seed, producer).
 * @example deriveProducerSeed(seed, 'policy').length === 32
 */
export function deriveProducerSeed(keyringSeed: string, producer: string): Buffer {
  const master = decodeKey(keyringSeed, 'WARDEN_KEYRING_SEED');
  return Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), `warden producer key v1 ${producer}`, 32));
}

/**
 * Parses `WARDEN_PRODUCER_KEYS` (`name=key` pairs separated by commas or whitespace; PEM keys
 * allowed as `name=-----BEGIN PUBLIC KEY-----…`) into public keys per producer.
 * @example parseProducerKeys('policy=MCow…,orchestrator=MCow…').get('policy')
 */
export function parseProducerKeys(text: string): Map<string, KeyObject[]> {
  const out = new Map<string, KeyObject[]>();
  const pems = text.match(/[a-z][a-z0-9_-]*=-----BEGIN [A-Z ]+-----[\s\S]*?-----END [A-Z ]+-----/g) ?? [];
  const rest = text.replace(/[a-z][a-z0-9_-]*=-----BEGIN [A-Z ]+-----[\s\S]*?-----END [A-Z ]+-----/g, ',');
  const pairs = [...pems, ...splitKeys(rest)];
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq);
    if (eq <= 0 || !/^[a-z][a-z0-9_-]*$/.test(name)) {
      throw new Error(`WARDEN_PRODUCER_KEYS: "${pair.slice(0, 40)}" is not <producer>=<public key>`);
    }
    const key = ed25519PublicKey(decodeKey(pair.slice(eq + 1), `WARDEN_PRODUCER_KEYS (${name})`));
    out.set(name, [...(out.get(name) ?? []), key]);
  }
  return out;
}

/**
 * Loads a keyring. Explicit keys win; `keyringSeed` (development) fills in whatever is not given.
 * Without any trusted key for a producer, nothing it emits verifies (default deny).
 * @example const kr = loadKeyring({ self: 'policy', signingKey: env.WARDEN_SIGNING_KEY, producerKeys: env.WARDEN_PRODUCER_KEYS })
 */
export function loadKeyring(src: KeyringSource, producers: readonly string[]): Keyring {
  if (src.keyringSeed && src.production) {
    throw new Error(
      'WARDEN_KEYRING_SEED is for development only: give each service WARDEN_SIGNING_KEY and WARDEN_PRODUCER_KEYS',
    );
  }
  const seed = src.signingKey
    ? decodeKey(src.signingKey, 'WARDEN_SIGNING_KEY')
    : src.keyringSeed
      ? deriveProducerSeed(src.keyringSeed, src.self)
      : undefined;
  const privateKey = seed ? ed25519PrivateKey(seed) : undefined;
  const trusted = src.producerKeys ? parseProducerKeys(src.producerKeys) : new Map<string, KeyObject[]>();
  if (src.keyringSeed) {
    for (const p of producers) {
      if (!trusted.has(p)) trusted.set(p, [createPublicKey(ed25519PrivateKey(deriveProducerSeed(src.keyringSeed, p)))]);
    }
  }
  if (privateKey) {
    // a service always verifies its own events (it reads some of them back)
    const own = createPublicKey(privateKey);
    const list = trusted.get(src.self) ?? [];
    if (!list.some((k) => k.equals(own))) trusted.set(src.self, [own, ...list]);
  }
  return { self: src.self, ...(privateKey ? { privateKey } : {}), trusted };
}

/**
 * `ed25519:<base64>` signature of `text` with the keyring's own key.
 * @example sealText(kr, canonicalJson(envelopeWithoutSig))
 */
export function sealText(kr: Keyring, text: string): string {
  if (!kr.privateKey) throw new Error(`no signing key for ${kr.self}: set WARDEN_SIGNING_KEY`);
  return ED25519_PREFIX + sign(null, Buffer.from(text), kr.privateKey).toString('base64');
}

/** Whether `sig` is `producer`'s signature over `text` (any of its trusted keys); false on malformed input. */
export function verifySealed(kr: Keyring, producer: string, text: string, sig: string): boolean {
  const keys = kr.trusted.get(producer);
  if (!keys?.length || typeof sig !== 'string' || !sig.startsWith(ED25519_PREFIX)) return false;
  const raw = Buffer.from(sig.slice(ED25519_PREFIX.length), 'base64');
  if (raw.length !== 64) return false;
  const data = Buffer.from(text);
  try {
    return keys.some((k) => verify(null, data, k, raw));
  } catch {
    return false;
  }
}

/**
 * The {@link SigningKeys} view of one producer in a keyring: for signing (own key) or verifying
 * (that producer's public keys) with the older helpers (`signCanonical`, `verifyCanonical`).
 * @example authenticate(signingKeysOf(kr, 'orchestrator'), command, role)
 */
export function signingKeysOf(kr: Keyring, producer: string): SigningKeys {
  const keys = kr.trusted.get(producer) ?? [];
  if (producer === kr.self && kr.privateKey) {
    return { privateKey: kr.privateKey, publicKey: createPublicKey(kr.privateKey), acceptedPublicKeys: [...keys] };
  }
  const [first, ...rest] = keys;
  if (!first) throw new Error(`no public key for producer "${producer}" (WARDEN_PRODUCER_KEYS)`);
  return { publicKey: first, acceptedPublicKeys: rest };
}

/** The raw public key (base64) of this keyring's own key: what to put in other services' WARDEN_PRODUCER_KEYS. */
export function ownPublicKey(kr: Keyring): string {
  if (!kr.privateKey) throw new Error(`no signing key for ${kr.self}`);
  return rawPublicKey(createPublicKey(kr.privateKey));
}

/** The raw 32 bytes (base64) of an Ed25519 public key. */
export function rawPublicKey(k: KeyObject): string {
  return k.export({ format: 'der', type: 'spki' }).subarray(-32).toString('base64');
}
