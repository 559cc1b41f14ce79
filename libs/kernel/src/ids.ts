import { randomBytes } from 'node:crypto';
import { v4 as uuidv4, v5 as uuidv5, validate as uuidValidate } from 'uuid';

/** Namespace for every id Warden derives deterministically (uuid v5). */
const WARDEN_NAMESPACE = '6f1f6b0e-5b8a-4c1e-9d5c-3f0c7f6a2b11';

/**
 * A fresh random id (UUID v4).
 * @example const runId = newId();
 */
export function newId(): string {
  return uuidv4();
}

/**
 * A deterministic id derived from its parts, so a redelivered message produces the very same
 * follow-up id and JetStream's duplicate window (and every idempotent consumer) drops the copy.
 * @example deriveId(triggerEventId, 'decision_made')
 */
export function deriveId(...parts: string[]): string {
  return uuidv5(parts.join('\u0000'), WARDEN_NAMESPACE);
}

/** True for a syntactically valid UUID. */
export function isUuid(value: string): boolean {
  return uuidValidate(value);
}

/** 32 lowercase hex chars: a W3C trace id. */
export function newTraceId(): string {
  return randomHex(16);
}

/** 16 lowercase hex chars: a W3C span id. */
export function newSpanId(): string {
  return randomHex(8);
}

function randomHex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}
