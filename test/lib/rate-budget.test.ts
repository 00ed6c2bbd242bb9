// lib/rate-budget: a provider's limits as sliding windows, on a clock the test moves. A call that does not fit is
// refused at once (nothing counted) with the time it fits; no window of its length ever holds more than its limit,
// however the calls fall; the provider's own "too many" blocks calls until the time it gave.
import { describe, expect, it } from 'vitest';
import { RateLimitedError } from '../../lib/errors.ts';
import { createRateBudget } from '../../lib/rate-budget.ts';

const MINUTE = 60_000;
const DAY = 86_400_000;

function budget(limits = { perMinute: 5, perDay: 25 }) {
  const clock = { t: Date.UTC(2026, 9, 2, 14) };
  const b = createRateBudget('alphavantage', [
    { limit: limits.perMinute, ms: MINUTE, label: 'per minute' },
    { limit: limits.perDay, ms: DAY, label: 'per day' },
  ], () => clock.t);
  return { b, clock };
}

const refusal = (f: () => void): RateLimitedError => {
  try { f(); } catch (err) { if (err instanceof RateLimitedError) return err; throw err; }
  throw new Error('not refused');
};

describe('rate budget', () => {
  it('refuses the sixth call of a minute at once, with the time the oldest call leaves the window', () => {
    const { b, clock } = budget();
    for (let i = 0; i < 5; i++) { b.take(); clock.t += 1000; }
    const err = refusal(() => b.take());
    expect(err.until).toBe(clock.t - 5000 + MINUTE);
    expect(err.byProvider).toBe(false);
    expect(err.message).toMatch(/alphavantage rate limit: 5 calls per minute used; next call at 2026-10-02T14:01:00.000Z/);
    expect(b.status()).toMatchObject({ windows: [{ label: 'per minute', limit: 5, used: 5 }, { label: 'per day', limit: 25, used: 5 }],
      nextCallAt: '2026-10-02T14:01:00.000Z', blockedUntil: null });
    expect(() => b.check()).toThrow(RateLimitedError);
    clock.t = err.until;
    b.take(); // the first call left the window exactly then
    expect(b.status().windows[0]!.used).toBe(5);
  });

  it('never holds more than a window\'s limit in any window of its length, and the day runs out after 25', () => {
    const { b, clock } = budget();
    const taken: number[] = [];
    for (let i = 0; i < 400; i++) {
      try { b.take(); taken.push(clock.t); } catch (err) { expect(err).toBeInstanceOf(RateLimitedError); }
      clock.t += 3000 + ((i * 7919) % 9000); // irregular polls, 3 to 12 s apart
    }
    expect(taken).toHaveLength(25);
    for (const t of taken) expect(taken.filter((u) => u > t - MINUTE && u <= t).length).toBeLessThanOrEqual(5);
    const err = refusal(() => b.take());
    expect(err.message).toMatch(/25 calls per day used/);
    expect(err.until).toBe(taken[0]! + DAY);
  });

  it('takes several calls at once only when all fit; 0 means no limit', () => {
    const { b } = budget({ perMinute: 8, perDay: 0 });
    b.take(5);
    expect(() => b.take(4)).toThrow(/8 calls per minute used/);
    b.take(3);
    expect(b.status().windows).toEqual([{ label: 'per minute', limit: 8, used: 8 }]);
  });

  it('the provider\'s own "too many" blocks every call until the time it gave', () => {
    const { b, clock } = budget();
    b.take();
    b.block(clock.t + 30_000);
    const err = refusal(() => b.take());
    expect(err).toMatchObject({ until: clock.t + 30_000, byProvider: true });
    expect(err.message).toMatch(/alphavantage said we are over its rate limit/);
    expect(b.status().blockedUntil).toBe(new Date(clock.t + 30_000).toISOString());
    clock.t += 30_000;
    b.take();
    expect(b.status()).toMatchObject({ blockedUntil: null, nextCallAt: null });
  });
});
