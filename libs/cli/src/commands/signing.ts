/**
 * `warden signing-keys …`: Ed25519 keys for the producing services. Each service signs the events it
 * emits with its own key (WARDEN_SIGNING_KEY) and verifies everyone's with their public keys
 * (WARDEN_PRODUCER_KEYS). Runs offline; prints env lines (.env style) and never stores anything.
 */
import { generateKeyPairSync } from 'node:crypto';
import type { Command } from 'commander';
import type { Producer } from '@warden/contracts';
import { EXIT, UsageError } from '../errors';
import { act, type CommandModule, type Context } from '../program';

const usage = `Signing keys (offline; prints .env lines, stores nothing):
  signing-keys [producer...] [--json]        a new Ed25519 key per producer (default: all five):
                                             WARDEN_<PRODUCER>_SIGNING_KEY=<seed> for that service's
                                             WARDEN_SIGNING_KEY, and WARDEN_PRODUCER_KEYS=<name=public,...>
                                             for every service (add a new public key beside the old
                                             one to rotate: docs/security.md, "Configuring and rotating signing keys")`;

/** A new Ed25519 key: the 32-byte seed and the 32-byte public key, base64. */
function newKey(): { seed: string; pub: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const seed = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(-32).toString('base64');
  const pub = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32).toString('base64');
  return { seed, pub };
}

/**
 * Keys for `names`, as env lines and as JSON. Pure apart from the random keys.
 * @example signingKeys(['policy']).lines // ['WARDEN_POLICY_SIGNING_KEY=…', 'WARDEN_PRODUCER_KEYS=policy=…']
 */
export function signingKeys(names: readonly string[]): {
  keys: { name: string; seed: string; pub: string }[];
  lines: string[];
} {
  const keys = names.map((name) => ({ name, ...newKey() }));
  const lines = [
    ...keys.map((k) => `WARDEN_${k.name.toUpperCase()}_SIGNING_KEY=${k.seed}`),
    `WARDEN_PRODUCER_KEYS=${keys.map((k) => `${k.name}=${k.pub}`).join(',')}`,
  ];
  return { keys, lines };
}

function register(program: Command, ctx: Context): void {
  program
    .command('signing-keys')
    .description('a new Ed25519 signing key per producer, as .env lines (offline; stores nothing)')
    .argument('[producer...]', 'producers (default: all five)')
    .option('--json', 'as JSON')
    .action(
      act(ctx, async (producers: string[], o: { json?: boolean }) => {
        const { PRODUCERS } = await import('@warden/contracts');
        const names = producers.length ? producers : [...PRODUCERS];
        for (const n of names) {
          if (!PRODUCERS.includes(n as Producer))
            throw new UsageError(`unknown producer "${n}" (one of: ${PRODUCERS.join(', ')})`);
        }
        const { keys, lines } = signingKeys([...new Set(names)]);
        ctx.io.stdout.write(
          o.json
            ? `${JSON.stringify({ keys: keys.map((k) => ({ producer: k.name, signing_key: k.seed, public_key: k.pub })) })}\n`
            : `${lines.join('\n')}\n`,
        );
        return EXIT.ok;
      }),
    );
}

export const signingCommands: CommandModule = { usage, register };
