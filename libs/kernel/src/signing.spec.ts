import { generateKeyPairSync, randomBytes } from 'node:crypto';
import {
  exportPublicKey,
  loadSigningKeys,
  macCanonical,
  signCanonical,
  verifyCanonical,
  verifyMacCanonical,
} from './signing';

const payload = { run_id: 'r1', action: { tool: 'fs.read_file', args: { path: 'a' } } };

describe('loadSigningKeys', () => {
  it('reads a seed as base64, hex or PKCS#8 PEM, and a public key as base64 or SPKI PEM, all alike', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const pemSeed = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const pemPublic = publicKey.export({ format: 'pem', type: 'spki' }).toString();
    const fromPem = loadSigningKeys(pemSeed, undefined);
    const raw = Buffer.from(privateKey.export({ format: 'der', type: 'pkcs8' })).subarray(16);
    const fromB64 = loadSigningKeys(raw.toString('base64'), undefined);
    const fromHex = loadSigningKeys(raw.toString('hex'), undefined);
    expect(exportPublicKey(fromPem)).toBe(exportPublicKey(fromB64));
    expect(exportPublicKey(fromHex)).toBe(exportPublicKey(fromB64));
    expect(macCanonical(fromPem, payload)).toBe(macCanonical(fromB64, payload));
    const verifier = loadSigningKeys(undefined, pemPublic);
    expect(verifyCanonical(verifier, payload, signCanonical(fromPem, payload))).toBe(true);
  });

  it('refuses a PEM key that is not Ed25519, and a seed of the wrong length, naming the variable', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' });
    expect(() => loadSigningKeys(rsa.toString(), undefined)).toThrow(/WARDEN_SIGNING_KEY.*rsa/);
    expect(() => loadSigningKeys(randomBytes(16).toString('base64'), undefined)).toThrow(
      /WARDEN_SIGNING_KEY must be 32 bytes/,
    );
  });
});

describe('key rotation', () => {
  const oldSeed = randomBytes(32).toString('base64');
  const newSeed = randomBytes(32).toString('base64');
  const oldKeys = loadSigningKeys(oldSeed, undefined);
  const newKeys = loadSigningKeys(newSeed, undefined);

  it('a worker that also accepts the new public key verifies commands signed by either key, and no other', () => {
    const worker = loadSigningKeys(undefined, exportPublicKey(oldKeys), { publicKeys: exportPublicKey(newKeys) });
    expect(verifyCanonical(worker, payload, signCanonical(oldKeys, payload))).toBe(true);
    expect(verifyCanonical(worker, payload, signCanonical(newKeys, payload))).toBe(true);
    const stranger = loadSigningKeys(randomBytes(32).toString('base64'), undefined);
    expect(verifyCanonical(worker, payload, signCanonical(stranger, payload))).toBe(false);
    // without the accept list only the current key verifies
    const plain = loadSigningKeys(undefined, exportPublicKey(oldKeys));
    expect(verifyCanonical(plain, payload, signCanonical(newKeys, payload))).toBe(false);
  });

  it('an orchestrator on the new seed that accepts the old one verifies decisions MACed by either', () => {
    const orchestrator = loadSigningKeys(newSeed, undefined, { seeds: oldSeed });
    expect(verifyMacCanonical(orchestrator, payload, macCanonical(oldKeys, payload))).toBe(true);
    expect(verifyMacCanonical(orchestrator, payload, macCanonical(newKeys, payload))).toBe(true);
    expect(verifyMacCanonical(newKeys, payload, macCanonical(oldKeys, payload))).toBe(false);
    // a MAC over another payload never verifies
    expect(verifyMacCanonical(orchestrator, { ...payload, run_id: 'r2' }, macCanonical(oldKeys, payload))).toBe(false);
  });

  it('accept lists take several keys, comma or newline separated', () => {
    const a = loadSigningKeys(randomBytes(32).toString('base64'), undefined);
    const b = loadSigningKeys(randomBytes(32).toString('base64'), undefined);
    const worker = loadSigningKeys(undefined, exportPublicKey(oldKeys), {
      publicKeys: `${exportPublicKey(a)},\n${exportPublicKey(b)}`,
    });
    expect(worker.acceptedPublicKeys).toHaveLength(2);
    expect(verifyCanonical(worker, payload, signCanonical(b, payload))).toBe(true);
  });
});
