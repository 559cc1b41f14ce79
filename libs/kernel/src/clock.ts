/** Time is passed in, never read inside domain code, so decide/evolve stay pure and testable. */
export interface Clock {
  now(): Date;
}

/** The wall clock. */
export const systemClock: Clock = { now: () => new Date() };

/**
 * A clock that stands still until moved; for tests.
 * @example const clock = fixedClock('2026-01-01T00:00:00Z'); clock.advance(1000);
 */
export function fixedClock(start: string | Date): Clock & { advance(ms: number): void } {
  let t = new Date(start).getTime();
  return {
    now: () => new Date(t),
    advance: (ms: number) => {
      t += ms;
    },
  };
}
