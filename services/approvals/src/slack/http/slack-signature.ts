import { createHmac, timingSafeEqual } from 'node:crypto';

/** Slack's replay window: a request older or newer than this is refused. */
export const SLACK_SIGNATURE_WINDOW_SECONDS = 300;

export type SignatureCheck = { ok: true } | { ok: false; reason: string };

/**
 * Verifies Slack's v0 request signature: `X-Slack-Signature: v0=<hex HMAC-SHA256(secret, "v0:<ts>:<raw body>")>`,
 * with `X-Slack-Request-Timestamp` within 5 minutes of `now` either way. Compares in constant time.
 * @example verifySlackSignature(secret, req.headers['x-slack-request-timestamp'], req.headers['x-slack-signature'], raw)
 */
export function verifySlackSignature(
  secret: string,
  timestamp: string | undefined,
  signature: string | undefined,
  rawBody: Buffer,
  now: Date = new Date(),
): SignatureCheck {
  if (!timestamp || !/^\d{1,12}$/.test(timestamp))
    return { ok: false, reason: 'missing or malformed X-Slack-Request-Timestamp' };
  const skew = Math.abs(Math.floor(now.getTime() / 1000) - Number(timestamp));
  if (skew > SLACK_SIGNATURE_WINDOW_SECONDS) return { ok: false, reason: 'timestamp outside the 5 minute window' };
  if (!signature || !/^v0=[0-9a-f]{64}$/.test(signature))
    return { ok: false, reason: 'missing or malformed X-Slack-Signature' };
  const expected = Buffer.from(signSlackRequest(secret, timestamp, rawBody), 'utf8');
  const given = Buffer.from(signature, 'utf8');
  if (expected.length !== given.length || !timingSafeEqual(expected, given))
    return { ok: false, reason: 'signature mismatch' };
  return { ok: true };
}

/** The `X-Slack-Signature` value Slack would send for this body (used by tests and the fake Slack server). */
export function signSlackRequest(secret: string, timestamp: string, rawBody: Buffer | string): string {
  const mac = createHmac('sha256', secret);
  mac.update(`v0:${timestamp}:`);
  mac.update(rawBody);
  return `v0=${mac.digest('hex')}`;
}
