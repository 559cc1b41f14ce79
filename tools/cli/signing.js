'use strict';
/**
 * `warden signing-keys …`: Ed25519 keys for the producing services. Each service signs the events it
 * emits with its own key (WARDEN_SIGNING_KEY) and verifies everyone's with their public keys
 * (WARDEN_PRODUCER_KEYS). Runs offline; prints env lines (.env style) and never stores anything.
 */
const { generateKeyPairSync } = require('node:crypto');
const { UsageError, parseFlags } = require('./args');

const PRODUCERS = ['ingest', 'policy', 'orchestrator', 'approvals', 'workers'];

const usage = `Signing keys (offline; prints .env lines, stores nothing):
  signing-keys [producer...] [--json]        a new Ed25519 key per producer (default: all five):
                                             WARDEN_<PRODUCER>_SIGNING_KEY=<seed> for that service's
                                             WARDEN_SIGNING_KEY, and WARDEN_PRODUCER_KEYS=<name=public,...>
                                             for every service (add a new public key beside the old
                                             one to rotate: README, Rotating a signing key)`;

/** A new Ed25519 key: the 32-byte seed and the 32-byte public key, base64. */
function newKey() {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const seed = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(-32).toString('base64');
  const pub = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32).toString('base64');
  return { seed, pub };
}

/** Keys for `names`, as env lines and as JSON. Pure apart from the random keys. */
function signingKeys(names) {
  const keys = names.map((name) => ({ name, ...newKey() }));
  const lines = [
    ...keys.map((k) => `WARDEN_${k.name.toUpperCase()}_SIGNING_KEY=${k.seed}`),
    `WARDEN_PRODUCER_KEYS=${keys.map((k) => `${k.name}=${k.pub}`).join(',')}`,
  ];
  return { keys, lines };
}

const commands = {
  'signing-keys': async (argv, _env, io) => {
    const { flags, positionals } = parseFlags(argv, { json: 'boolean' });
    const names = positionals.length ? positionals : PRODUCERS;
    for (const n of names) {
      if (!PRODUCERS.includes(n)) throw new UsageError(`unknown producer "${n}" (one of: ${PRODUCERS.join(', ')})`);
    }
    const { keys, lines } = signingKeys([...new Set(names)]);
    if (flags.json) {
      io.stdout.write(
        JSON.stringify({ keys: keys.map((k) => ({ producer: k.name, signing_key: k.seed, public_key: k.pub })) }) +
          '\n',
      );
    } else {
      io.stdout.write(lines.join('\n') + '\n');
    }
    return 0;
  },
};

module.exports = { commands, usage, signingKeys, PRODUCERS };
