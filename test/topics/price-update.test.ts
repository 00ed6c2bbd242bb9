// validatePriceUpdate: each rule rejects with a reason naming the problem; a good bar passes; staleness only for live sources.
import { describe, expect, it } from 'vitest';
import { priceConfidence, QUALITY, validatePriceUpdate } from '../../topics/price-update.ts';
import type { PriceUpdate } from '../../schemas/types.generated.ts';

const NOW = Date.UTC(2026, 2, 2, 15, 0, 0);
const good: PriceUpdate = {
  symbol: 'AAPL', interval: '1m', eventTime: NOW - 120_000, open: 100, high: 101, low: 99.5, close: 100.5,
  volume: 1200, source: 'synthetic', ingestTime: NOW, quality: 1,
};
const v = (over: Partial<PriceUpdate>, opts = {}) => validatePriceUpdate({ ...good, ...over }, NOW, opts);

describe('validatePriceUpdate', () => {
  it('accepts a well-formed bar, including a tick with open = high = low = close and zero volume', () => {
    expect(v({})).toBeNull();
    expect(v({ interval: 'tick', open: 5, high: 5, low: 5, close: 5, volume: 0 })).toBeNull();
    expect(v({ symbol: 'BRK.B' })).toBeNull();
    expect(v({ symbol: '^GSPC' })).toBeNull();
  });

  it('accepts the optional vwap and trades of version 2, absent, null or within the bar', () => {
    expect(v({ vwap: 100.4, trades: 37 })).toBeNull();
    expect(v({ vwap: 99.5, trades: 0 })).toBeNull();
    expect(v({ vwap: null, trades: null })).toBeNull();
  });

  it.each<[string, Partial<PriceUpdate>, RegExp]>([
    ['lower-case symbol', { symbol: 'aapl' }, /symbol "aapl"/],
    ['empty symbol', { symbol: '' }, /symbol ""/],
    ['too long symbol', { symbol: 'A'.repeat(16) }, /symbol/],
    ['unknown interval', { interval: '2m' }, /interval "2m"/],
    ['unknown source', { source: 'bloomberg' as PriceUpdate['source'] }, /source "bloomberg"/],
    ['NaN close', { close: Number.NaN }, /close is not a finite number/],
    ['infinite volume', { volume: Number.POSITIVE_INFINITY }, /volume is not a finite number/],
    ['high below close', { high: 100.2, close: 100.5 }, /high 100.2 is below max\(open 100, close 100.5\)/],
    ['high below low', { high: 98, low: 99 }, /high 98 is below max/],
    ['low above open', { low: 100.1 }, /low 100.1 is above min\(open 100, close 100.5\)/],
    ['zero low', { low: 0, open: 0, close: 0.5 }, /low 0 is not positive/],
    ['negative volume', { volume: -1 }, /volume -1 is negative/],
    ['quality above 1', { quality: 1.5 }, /quality 1.5 is outside 0..1/],
    ['quality below 0', { quality: -0.1 }, /quality -0.1 is outside 0..1/],
    ['vwap above high', { vwap: 101.5 }, /vwap 101.5 is outside low 99.5..high 101/],
    ['NaN vwap', { vwap: Number.NaN }, /vwap NaN is outside/],
    ['fractional trades', { trades: 2.5 }, /trades 2.5 is not a whole number/],
    ['negative trades', { trades: -1 }, /trades -1 is not a whole number/],
    ['event time on 1970-01-01', { eventTime: 3_600_000 }, /eventTime 3600000 is before 1970-01-02/],
    ['missing ingest time', { ingestTime: 0 }, /ingestTime 0 is before 1970-01-02/],
    ['event time 6 minutes in the future', { eventTime: NOW + 6 * 60_000 }, /in the future/],
  ])('rejects %s', (_, over, reason) => {
    expect(v(over)).toMatch(reason);
  });

  it('allows event times up to 5 minutes ahead (clock skew)', () => {
    expect(v({ eventTime: NOW + 4 * 60_000 })).toBeNull();
  });

  it('rejects stale live bars only when a staleness limit is given: late by more than the limit beyond one interval', () => {
    const old = { eventTime: NOW - 20 * 60_000 }; // 1m bar that ended 19 min ago
    expect(v(old)).toBeNull(); // consumers validate without a limit: replays are old by nature
    expect(v(old, { maxStalenessMs: 15 * 60_000 })).toBe('stale: bar ended 1140 s ago (limit 960 s)');
    expect(v({ ...old, source: 'yahoo' }, { maxStalenessMs: 15 * 60_000 })).toMatch(/^stale/);
    expect(v({ eventTime: NOW - 16 * 60_000 }, { maxStalenessMs: 15 * 60_000 })).toBeNull();
    // The last complete daily bar can have ended almost a day ago and still be the freshest there is.
    const day = 86_400_000;
    expect(v({ interval: '1d', eventTime: Date.UTC(2026, 2, 1) }, { maxStalenessMs: 15 * 60_000 })).toBeNull(); // ended 15 h ago
    expect(v({ interval: '1d', eventTime: Date.UTC(2026, 2, 1) - day }, { maxStalenessMs: 15 * 60_000 })).toMatch(/^stale: bar ended 140400 s ago/);
    expect(v({ interval: 'tick', eventTime: NOW - 16 * 60_000, open: 100, high: 100, low: 100, close: 100 },
      { maxStalenessMs: 15 * 60_000 })).toMatch(/^stale/);
  });

  it('never treats backfill or file replays as stale', () => {
    const years = { eventTime: Date.UTC(2020, 0, 2) , interval: '1d' };
    expect(v({ ...years, source: 'backfill' }, { maxStalenessMs: 60_000 })).toBeNull();
    expect(v({ ...years, source: 'file' }, { maxStalenessMs: 60_000 })).toBeNull();
  });
});

describe('priceConfidence', () => {
  const LIMIT = 300_000;
  it('is the quality while the record is late by at most the limit', () => {
    expect(priceConfidence(1, 0, LIMIT)).toBe(1);
    expect(priceConfidence(1, LIMIT, LIMIT)).toBe(1);
    expect(priceConfidence(QUALITY.filled, 0, LIMIT)).toBe(0.5);
  });

  it('halves with every further limit: the table of its documentation', () => {
    expect(priceConfidence(1, 2 * LIMIT, LIMIT)).toBe(0.5);
    expect(priceConfidence(0.5, 3 * LIMIT, LIMIT)).toBe(0.125);
    expect(priceConfidence(1, 1.5 * LIMIT, LIMIT)).toBeCloseTo(Math.SQRT1_2, 12);
    expect(priceConfidence(1, 50 * LIMIT, LIMIT)).toBeLessThan(1e-14);
    expect(priceConfidence(1, 50 * LIMIT, LIMIT)).toBeGreaterThan(0); // marked, never dropped
  });

  it('falls monotonically with lateness and rises with quality', () => {
    const late = [0, 1, 2, 3, 5, 8].map((k) => priceConfidence(0.8, k * LIMIT, LIMIT));
    for (let i = 1; i < late.length; i++) expect(late[i]).toBeLessThanOrEqual(late[i - 1]!);
    expect(priceConfidence(0.4, 3 * LIMIT, LIMIT)).toBeLessThan(priceConfidence(0.8, 3 * LIMIT, LIMIT));
  });

  it('clamps a quality outside 0..1 and reads a negative lateness as none; a limit of 0 means any lateness is no confidence', () => {
    expect(priceConfidence(1.5, 0, LIMIT)).toBe(1);
    expect(priceConfidence(-1, 0, LIMIT)).toBe(0);
    expect(priceConfidence(Number.NaN, 0, LIMIT)).toBe(0);
    expect(priceConfidence(1, -LIMIT, LIMIT)).toBe(1);
    expect(priceConfidence(1, 0, 0)).toBe(1);
    expect(priceConfidence(1, 1, 0)).toBe(0);
  });
});
