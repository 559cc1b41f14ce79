import { ValidationError, type FieldError } from '@warden/kernel';
import { parseSince } from './policy.controller';

function errorsOf(fn: () => unknown): FieldError[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ValidationError) return err.errors;
    throw err;
  }
  throw new Error('expected a ValidationError');
}

describe("the policy API's since parameter", () => {
  it('since: durations up to 10 years, ISO times from 1970 to now; anything else is a 400 on `since`', () => {
    const now = new Date('2026-11-21T10:00:00.000Z');
    expect(parseSince('24h', now).toISOString()).toBe('2026-11-20T10:00:00.000Z');
    expect(parseSince('3660d', now).getTime()).toBe(now.getTime() - 3660 * 86400_000);
    for (const bad of ['999999999d', '9999999999999999999999s', '3661d', '+275760-09-13T00:00:00Z', '1960-01-01', 42]) {
      expect(errorsOf(() => parseSince(bad, now))).toEqual([{ path: 'since', message: expect.any(String) }]);
    }
  });
});
