import { newSecret } from '@warden/identity';
import { TOLERANCE_SECONDS, signDelivery, verifier, verifyDelivery } from './signature';

// the example published with the Standard Webhooks specification
const SPEC = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: '1614265330',
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};
const specNow = Number(SPEC.timestamp);

describe('Standard Webhooks verification', () => {
  it("verifies the specification's published example", () => {
    const r = verifyDelivery(SPEC, Buffer.from(SPEC.body), [verifier(SPEC.secret)], specNow);
    expect(r).toEqual({ ok: true, id: SPEC.id, timestamp: specNow, secretIndex: 0 });
    expect(signDelivery(SPEC.secret, SPEC.id, specNow, SPEC.body)).toBe(SPEC.signature);
  });

  it('fails when the body differs by one byte', () => {
    const tampered = Buffer.from(SPEC.body);
    tampered.writeUInt8(tampered.readUInt8(tampered.length - 2) ^ 1, tampered.length - 2);
    expect(verifyDelivery(SPEC, tampered, [verifier(SPEC.secret)], specNow)).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
  });

  it("fails with another source's secret, and when id or timestamp were changed", () => {
    const other = verifier(newSecret('whsec'));
    expect(verifyDelivery(SPEC, Buffer.from(SPEC.body), [other], specNow)).toMatchObject({ ok: false });
    const v = [verifier(SPEC.secret)];
    expect(verifyDelivery({ ...SPEC, id: 'msg_other' }, Buffer.from(SPEC.body), v, specNow).ok).toBe(false);
    const ts = String(specNow + 1);
    expect(verifyDelivery({ ...SPEC, timestamp: ts }, Buffer.from(SPEC.body), v, specNow).ok).toBe(false);
  });

  it('accepts any one matching v1 signature of several, and any one of several secrets (rotation)', () => {
    const fresh = newSecret('whsec');
    const sig = `v2,abc v1,${'A'.repeat(44)} ${SPEC.signature}`;
    const r = verifyDelivery(
      { ...SPEC, signature: sig },
      Buffer.from(SPEC.body),
      [verifier(fresh), verifier(SPEC.secret)],
      specNow,
    );
    expect(r).toMatchObject({ ok: true, secretIndex: 1 });
  });

  it('refuses timestamps outside ±5 minutes in both directions, and accepts the edges', () => {
    const body = Buffer.from(SPEC.body);
    const v = [verifier(SPEC.secret)];
    expect(verifyDelivery(SPEC, body, v, specNow + TOLERANCE_SECONDS).ok).toBe(true);
    expect(verifyDelivery(SPEC, body, v, specNow - TOLERANCE_SECONDS).ok).toBe(true);
    expect(verifyDelivery(SPEC, body, v, specNow + TOLERANCE_SECONDS + 1)).toEqual({ ok: false, reason: 'stale' });
    expect(verifyDelivery(SPEC, body, v, specNow - TOLERANCE_SECONDS - 1)).toEqual({ ok: false, reason: 'future' });
  });

  it('refuses missing headers, a non-numeric timestamp and a list without v1 signatures', () => {
    const body = Buffer.from(SPEC.body);
    const v = [verifier(SPEC.secret)];
    expect(verifyDelivery({ ...SPEC, id: undefined }, body, v, specNow)).toEqual({
      ok: false,
      reason: 'missing_headers',
    });
    expect(verifyDelivery({ ...SPEC, timestamp: '16142x' }, body, v, specNow)).toEqual({
      ok: false,
      reason: 'bad_timestamp',
    });
    expect(verifyDelivery({ ...SPEC, signature: 'v2,abc' }, body, v, specNow)).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
  });
});
