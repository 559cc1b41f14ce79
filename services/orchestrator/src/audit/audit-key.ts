import { decodeKey, deriveProducerSeed, ed25519PrivateKey, ed25519PublicKey, splitKeys } from '@warden/kernel';
import type { OrchestratorConfig } from '../config';
import { auditKeys, type AuditKeys } from './domain/chain';

/**
 * The audit key from the config: `WARDEN_AUDIT_KEY` (its own Ed25519 seed, never a service's signing
 * key), else in development derived from `WARDEN_KEYRING_SEED` like the producers' keys (HKDF, label
 * `audit`); `WARDEN_AUDIT_PUBLIC_KEYS` lists earlier keys whose checkpoints still verify.
 * @example const keys = auditKeysFromConfig(loadConfig())
 */
export function auditKeysFromConfig(
  config: Pick<
    OrchestratorConfig,
    'NODE_ENV' | 'WARDEN_AUDIT_KEY' | 'WARDEN_AUDIT_PUBLIC_KEYS' | 'WARDEN_KEYRING_SEED'
  >,
): AuditKeys {
  try {
    const seed = config.WARDEN_AUDIT_KEY
      ? decodeKey(config.WARDEN_AUDIT_KEY, 'WARDEN_AUDIT_KEY')
      : config.WARDEN_KEYRING_SEED && config.NODE_ENV !== 'production'
        ? deriveProducerSeed(config.WARDEN_KEYRING_SEED, 'audit')
        : undefined;
    if (!seed) {
      throw new Error(
        'WARDEN_AUDIT_KEY: is required: the orchestrator signs the audit chain with its own Ed25519 key (or set WARDEN_KEYRING_SEED in development)',
      );
    }
    const older = splitKeys(config.WARDEN_AUDIT_PUBLIC_KEYS).map((k) =>
      ed25519PublicKey(decodeKey(k, 'WARDEN_AUDIT_PUBLIC_KEYS')),
    );
    return auditKeys(ed25519PrivateKey(seed), older);
  } catch (err) {
    throw new Error(`invalid configuration:\n  ${(err as Error).message}`);
  }
}
