import { reuseLimit } from './sandbox-pool';

describe('reuseLimit (when a sandbox is replaced)', () => {
  it('is the operator’s bound at most and half of it at least, spread in between', () => {
    expect(reuseLimit(100, () => 0)).toBe(100);
    expect(reuseLimit(100, () => 0.999999)).toBe(50);
    const seen = new Set(Array.from({ length: 2000 }, () => reuseLimit(100)));
    expect(Math.max(...seen)).toBeLessThanOrEqual(100);
    expect(Math.min(...seen)).toBeGreaterThanOrEqual(50);
    // spread, not one value: sandboxes started together are not replaced together
    expect(seen.size).toBeGreaterThan(30);
  });

  it('keeps a bound of one (a fresh process every time) and small bounds exact at the top', () => {
    expect(reuseLimit(1, () => 0.9)).toBe(1);
    expect(reuseLimit(2, () => 0)).toBe(2);
    expect(reuseLimit(2, () => 0.99)).toBe(1);
    expect(reuseLimit(3, () => 0.99)).toBe(2);
  });
});
