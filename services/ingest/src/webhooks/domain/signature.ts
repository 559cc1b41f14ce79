import { timingSafeEqual } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

/** Standard Webhooks tolerance: a timestamp more than 5 minutes old or ahead is refused. */
export const TOLERANCE_SECONDS = 5 * 60;

/** The three Standard Webhooks headers, as received (any may be missing). */
export interface WebhookHeaders {
  id?: string;
  timestamp?: string;
  signature?: string;
}

export type VerifyFailure = 'missing_headers' | 'bad_timestamp' | 'stale' | 'future' | 'bad_signature';

export type Verification =
  { ok: true; id: string; timestamp: number; secretIndex: number } | { ok: false; reason: VerifyFailure };

/** A secret to verify with, prepared once (the `Webhook` decodes the `whsec_` base64). */
export interface Verifier {
  readonly webhook: Webhook;
}

export function verifier(secret: string): Verifier {
  return { webhook: new Webhook(secret) };
}

/**
 * Verifies a Standard Webhooks delivery: headers present, timestamp within ±{@link TOLERANCE_SECONDS}
 * of `nowSeconds` (both directions), and at least one `v1,` signature in the space-separated list
 * matching HMAC-SHA256 of `id.timestamp.body` under one of `verifiers` (several during a rotation).
 * The signature math is the `standardwebhooks` package's; comparison is constant-time. Pure.
 * @example verifyDelivery({ id, timestamp, signature }, body, [verifier('whsec_…')], Date.now() / 1000)
 */
export function verifyDelivery(
  headers: WebhookHeaders,
  body: Buffer,
  verifiers: readonly Verifier[],
  nowSeconds: number,
): Verification {
  const { id, timestamp, signature } = headers;
  if (!id || !timestamp || !signature) return { ok: false, reason: 'missing_headers' };
  if (!/^\d{1,12}$/.test(timestamp.trim())) return { ok: false, reason: 'bad_timestamp' };
  const ts = Number(timestamp.trim());
  const now = Math.floor(nowSeconds);
  if (now - ts > TOLERANCE_SECONDS) return { ok: false, reason: 'stale' };
  if (ts - now > TOLERANCE_SECONDS) return { ok: false, reason: 'future' };
  const offered = signature
    .split(' ')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('v1,'))
    .map((s) => Buffer.from(s.slice(3)));
  if (offered.length === 0) return { ok: false, reason: 'bad_signature' };
  const payload = body.toString('utf8');
  for (let i = 0; i < verifiers.length; i++) {
    const expected = Buffer.from(verifiers[i]!.webhook.sign(id, new Date(ts * 1000), payload).slice(3));
    if (offered.some((o) => o.length === expected.length && timingSafeEqual(o, expected)))
      return { ok: true, id, timestamp: ts, secretIndex: i };
  }
  return { ok: false, reason: 'bad_signature' };
}

/** Signs a delivery the way a sender does (tests, the CLI's self-check, the benchmark). */
export function signDelivery(secret: string, id: string, timestampSeconds: number, body: string): string {
  return new Webhook(secret).sign(id, new Date(timestampSeconds * 1000), body);
}
