import { createHash, createPublicKey, sign, type KeyObject } from 'node:crypto';
import { canonicalJson, rawPublicKey, sha256Canonical } from '@warden/kernel';

/**
 * The audit hash chain, pure. One record per audited event, in the order of the events stream; each
 * record's `hash` is the SHA-256 of the RFC 8785 canonical JSON of its fields (the event by its own
 * canonical hash, `event_hash`) including `prev_hash`, the hash of the record before. Checkpoints sign
 * (`chain`, `up_to_seq`, `head_hash`, `created_at`, `key_id`) with the Ed25519 audit key. The verifier
 * (`libs/cli/src/audit-verify.ts`, no service code) recomputes exactly these forms.
 */

/** `prev_hash` of the first record. */
export const GENESIS_HASH = 'sha256:' + '0'.repeat(64);

/** The event types the chain records: decisions, approval outcomes, run outcomes, dead-letter handling. */
export const AUDITED_TYPES = [
  'decision_made',
  'approval_granted',
  'approval_rejected',
  'approval_expired',
  'run_succeeded',
  'run_failed',
  'run_denied',
  'run_cancelled',
  'dead_letter_redriven',
  'dead_letter_discarded',
  // bring your own executor: the grant a client got, its report, and how the run was settled
  'execution_granted',
  'execution_reported',
  'execution_succeeded',
  'execution_failed',
] as const;

/** One link of the chain. `event` (the signed envelope, as published) travels in exports. */
export interface AuditRecord {
  kind: 'record';
  seq: number;
  /** Sequence of the event in the events stream. */
  stream_seq: number;
  event_id: string;
  type: string;
  run_id: string | null;
  occurred_at: string;
  producer: string;
  /** `sha256:<hex>` of the canonical JSON of the envelope. */
  event_hash: string;
  prev_hash: string;
  hash: string;
  event?: unknown;
}

/** A signed statement that the chain's record `up_to_seq` has hash `head_hash`. `head`: made at export time. */
export interface AuditCheckpoint {
  kind: 'checkpoint' | 'head';
  /** The events stream the chain is over (e.g. `WARDEN_EVENTS`). */
  chain: string;
  up_to_seq: number;
  head_hash: string;
  created_at: string;
  key_id: string;
  /** `ed25519:<base64>` over {@link checkpointPayload}. */
  sig: string;
}

/** The hash of a record: every field but `hash` and `event`, canonical JSON, SHA-256. */
export function recordHash(r: Omit<AuditRecord, 'hash' | 'event'>): string {
  return sha256Canonical({
    kind: 'record',
    seq: r.seq,
    stream_seq: r.stream_seq,
    event_id: r.event_id,
    type: r.type,
    run_id: r.run_id,
    occurred_at: r.occurred_at,
    producer: r.producer,
    event_hash: r.event_hash,
    prev_hash: r.prev_hash,
  });
}

/** The envelope fields a record names (the event as published, before any schema parsing). */
export interface RawEvent {
  id: string;
  type: string;
  run_id: string | null;
  occurred_at: string;
  producer: string;
}

/**
 * The record after `prev` (undefined: the first) for an event at `streamSeq`.
 * @example const r1 = nextRecord(undefined, 17, env); const r2 = nextRecord(r1, 18, env2)
 */
export function nextRecord(
  prev: Pick<AuditRecord, 'seq' | 'hash'> | undefined,
  streamSeq: number,
  raw: RawEvent,
): AuditRecord {
  const body: Omit<AuditRecord, 'hash' | 'event'> = {
    kind: 'record',
    seq: (prev?.seq ?? 0) + 1,
    stream_seq: streamSeq,
    event_id: raw.id,
    type: raw.type,
    run_id: raw.run_id ?? null,
    occurred_at: raw.occurred_at,
    producer: raw.producer,
    event_hash: sha256Canonical(raw),
    prev_hash: prev?.hash ?? GENESIS_HASH,
  };
  return { ...body, hash: recordHash(body) };
}

/** What a checkpoint's signature covers. */
export function checkpointPayload(c: Omit<AuditCheckpoint, 'sig'>): string {
  return canonicalJson({
    kind: c.kind,
    chain: c.chain,
    up_to_seq: c.up_to_seq,
    head_hash: c.head_hash,
    created_at: c.created_at,
    key_id: c.key_id,
  });
}

/** The audit key: signs checkpoints; older public keys still verify the checkpoints they signed. */
export interface AuditKeys {
  privateKey: KeyObject;
  keyId: string;
  /** Every public key a checkpoint may be signed with, current first. */
  published: { key_id: string; public_key: string; current: boolean }[];
}

/** `<first 16 hex of SHA-256 of the raw public key>`: names the key that signed a checkpoint. */
export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(Buffer.from(rawPublicKey(publicKey), 'base64'))
    .digest('hex')
    .slice(0, 16);
}

/** Audit keys from the current private key and older public keys. */
export function auditKeys(privateKey: KeyObject, older: KeyObject[]): AuditKeys {
  const current = createPublicKey(privateKey);
  const keyId = keyIdOf(current);
  const published = [{ key_id: keyId, public_key: rawPublicKey(current), current: true }];
  for (const k of older) {
    const id = keyIdOf(k);
    if (!published.some((p) => p.key_id === id))
      published.push({ key_id: id, public_key: rawPublicKey(k), current: false });
  }
  return { privateKey, keyId, published };
}

/** Signs a checkpoint (or an export's head) with the current audit key. */
export function signCheckpoint(
  keys: AuditKeys,
  c: Pick<AuditCheckpoint, 'kind' | 'chain' | 'up_to_seq' | 'head_hash' | 'created_at'>,
): AuditCheckpoint {
  const unsigned = { ...c, key_id: keys.keyId };
  const sig = 'ed25519:' + sign(null, Buffer.from(checkpointPayload(unsigned)), keys.privateKey).toString('base64');
  return { ...unsigned, sig };
}

/** Whether a new checkpoint is due after `headSeq`: every `every` records or `seconds` after the last one. */
export function checkpointDue(
  last: { up_to_seq: number; created_at: string } | undefined,
  headSeq: number,
  now: Date,
  policy: { every: number; seconds: number },
): boolean {
  if (headSeq === 0 || (last && last.up_to_seq >= headSeq)) return false;
  if (!last) return true;
  return (
    headSeq - last.up_to_seq >= policy.every || now.getTime() - Date.parse(last.created_at) >= policy.seconds * 1000
  );
}
