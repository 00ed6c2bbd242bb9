// Pearson correlation of daily returns: the coefficient itself, alignment on common days and the window, and the
// synthetic source's factor model seen through it (same-sector symbols correlate strongly, other pairs do not).
import { describe, expect, it } from 'vitest';
import { alignedReturns, correlatePairs, pearson } from '../../../producers/correlation/pearson.ts';
import { createSyntheticSource } from '../../../producers/sources/synthetic.ts';

const DAY = 86_400_000;
const day = (i: number) => new Date(Date.UTC(2026, 0, 1) + i * DAY).toISOString().slice(0, 10);
const series = (closes: number[], skip: number[] = []) => new Map(closes.flatMap((c, i) => (skip.includes(i) ? [] : [[day(i), c] as const])));

describe('pearson', () => {
  it('is 1 for proportional series, -1 for opposite ones, known value otherwise, null without variance', () => {
    expect(pearson([1, 2, 3, 4], [2, 4, 6, 8])).toBeCloseTo(1, 12);
    expect(pearson([1, 2, 3, 4], [4, 3, 2, 1])).toBeCloseTo(-1, 12);
    expect(pearson([1, 2, 3, 4, 5], [2, 1, 4, 3, 5])).toBeCloseTo(0.8, 12);
    expect(pearson([1, 1, 1], [1, 2, 3])).toBeNull();
  });

  it('aligns on common days and takes the last `window` returns', () => {
    const a = series([100, 101, 103, 102, 105, 106]);
    const b = series([50, 51, 52, 51, 53, 54], [2]); // no close on day 2
    const r = alignedReturns(a, b, 3);
    if (typeof r === 'string') throw new Error(r);
    expect(r.lastDay).toBe(day(5));
    expect(r.x).toEqual([102 / 101 - 1, 105 / 102 - 1, 106 / 105 - 1].map((v) => expect.closeTo(v, 12)));
    expect(r.y).toEqual([51 / 51 - 1, 53 / 51 - 1, 54 / 53 - 1].map((v) => expect.closeTo(v, 12)));
    expect(alignedReturns(a, b, 5)).toMatch(/4 common daily returns, the window needs 5/);
  });

  it('finds the synthetic tech factor: same-sector pairs above 0.7, cross-sector pairs below', () => {
    const src = createSyntheticSource({ seed: 7 });
    // 100 calendar days hold 67 sessions: 60 returns and some to spare.
    const bars = src.bars(['AAPL', 'MSFT', 'NVDA', 'TSLA', 'XOM'], { from: Date.UTC(2026, 0, 1), to: Date.UTC(2026, 0, 1) + 100 * DAY, interval: '1d' });
    const closes = new Map<string, Map<string, number>>();
    for (const b of bars) {
      const m = closes.get(b.symbol) ?? new Map<string, number>();
      m.set(new Date(b.eventTime).toISOString().slice(0, 10), b.close);
      closes.set(b.symbol, m);
    }
    const { pairs, skipped } = correlatePairs(closes, 60);
    expect(skipped).toEqual([]);
    const r = (a: string, b: string) => pairs.find((p) => p.a === a && p.b === b)!.coefficient;
    for (const [a, b] of [['AAPL', 'MSFT'], ['AAPL', 'NVDA'], ['MSFT', 'NVDA']]) expect(r(a!, b!)).toBeGreaterThan(0.7);
    for (const [a, b] of [['AAPL', 'TSLA'], ['NVDA', 'XOM'], ['TSLA', 'XOM']]) expect(Math.abs(r(a!, b!))).toBeLessThan(0.7);
    expect(pairs.every((p) => p.a < p.b && p.observations === 60)).toBe(true);
  });
});
