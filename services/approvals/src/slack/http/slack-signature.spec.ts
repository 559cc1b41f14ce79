import { signSlackRequest, verifySlackSignature } from './slack-signature';

describe('Slack v0 request signatures', () => {
  const secret = '8f742231b10e8888abcd99yyyzzz85a5';
  const body = Buffer.from('token=x&team_id=T1&command=%2Fwarden&text=pending');
  const now = new Date('2026-11-21T10:00:00Z');
  const ts = String(Math.floor(now.getTime() / 1000));

  it('accepts the signature Slack computes over v0:<ts>:<raw body>', () => {
    expect(verifySlackSignature(secret, ts, signSlackRequest(secret, ts, body), body, now)).toEqual({ ok: true });
  });

  it('matches the documented example from Slack', () => {
    // https://api.slack.com/authentication/verifying-requests-from-slack (example values)
    const example =
      'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
    expect(signSlackRequest(secret, '1531420618', example)).toBe(
      'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503',
    );
  });

  it('refuses a body changed after signing', () => {
    const sig = signSlackRequest(secret, ts, body);
    expect(verifySlackSignature(secret, ts, sig, Buffer.from(`${body.toString()}x`), now)).toEqual({
      ok: false,
      reason: 'signature mismatch',
    });
  });

  it('refuses another secret', () => {
    expect(verifySlackSignature(secret, ts, signSlackRequest('other', ts, body), body, now).ok).toBe(false);
  });

  it('refuses timestamps more than 5 minutes in the past or the future', () => {
    for (const skew of [-301, 301]) {
      const t = String(Number(ts) + skew);
      expect(verifySlackSignature(secret, t, signSlackRequest(secret, t, body), body, now)).toEqual({
        ok: false,
        reason: 'timestamp outside the 5 minute window',
      });
    }
    for (const skew of [-300, 300]) {
      const t = String(Number(ts) + skew);
      expect(verifySlackSignature(secret, t, signSlackRequest(secret, t, body), body, now).ok).toBe(true);
    }
  });

  it('refuses missing or malformed headers', () => {
    const sig = signSlackRequest(secret, ts, body);
    expect(verifySlackSignature(secret, undefined, sig, body, now).ok).toBe(false);
    expect(verifySlackSignature(secret, 'abc', sig, body, now).ok).toBe(false);
    expect(verifySlackSignature(secret, ts, undefined, body, now).ok).toBe(false);
    expect(verifySlackSignature(secret, ts, sig.replace('v0=', 'v1='), body, now).ok).toBe(false);
    expect(verifySlackSignature(secret, ts, sig.slice(0, -2), body, now).ok).toBe(false);
  });
});
