// Synthetic source: deterministic per seed, same bar whenever asked, realistic OHLCV, correlated sectors. Bars fall in
// the US exchange's sessions (synthetic-sessions.test.ts covers the calendar, gaps, volume and restarts).
import { describe, expect, it } from 'vitest';
import { US_CALENDAR } from '../../../lib/calendar.ts';
import { createSyntheticSource } from '../../../producers/sources/synthetic.ts';
import { validatePriceUpdate } from '../../../topics/price-update.ts';
import type { PriceUpdate } from '../../../schemas/types.generated.ts';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 5); // a Monday
const OPEN = Date.parse('2026-01-05T14:30:00Z'); // its session opens at 09:30 New York
const TECH = ['AAPL', 'MSFT', 'GOOGL', 'NVDA'];
/** The end of the first 31 sessions from T0: 30 daily returns. */
const THIRTY_ONE_SESSIONS = (US_CALENDAR.bars('1d', T0, T0 + 60 * DAY)[30]?.eventTime as number) + 1;
const strip = (bars: PriceUpdate[]) => bars.map(({ ingestTime: _, ...rest }) => rest);

function dailyReturns(bars: PriceUpdate[]): Map<string, number[]> {
  const closes = new Map<string, number[]>();
  for (const b of bars) closes.set(b.symbol, [...(closes.get(b.symbol) ?? []), b.close]);
  return new Map([...closes].map(([s, c]) => [s, c.slice(1).map((x, i) => Math.log(x / (c[i] as number)))]));
}

function pearson(a: number[], b: number[]): number {
  const mean = (x: number[]) => x.reduce((s, y) => s + y, 0) / x.length;
  const ma = mean(a), mb = mean(b);
  let ab = 0, aa = 0, bb = 0;
  a.forEach((x, i) => { const y = b[i] as number; ab += (x - ma) * (y - mb); aa += (x - ma) ** 2; bb += (y - mb) ** 2; });
  return ab / Math.sqrt(aa * bb);
}

describe('synthetic source', () => {
  it('gives the same bars for the same seed, symbols and times, and different bars for another seed', () => {
    const range = { from: OPEN, to: OPEN + 3 * 3_600_000, interval: '1m' as const };
    const a = createSyntheticSource({ seed: 7 }).bars(['AAPL', 'TSLA'], range);
    const b = createSyntheticSource({ seed: 7 }).bars(['AAPL', 'TSLA'], range);
    const c = createSyntheticSource({ seed: 8 }).bars(['AAPL', 'TSLA'], range);
    expect(a).toHaveLength(2 * 180);
    expect(strip(a)).toEqual(strip(b));
    expect(strip(c)).not.toEqual(strip(a));
  });

  it('gives the same bar for a symbol and time however it is asked (sub-range, other symbols, history twice)', async () => {
    const src = createSyntheticSource({ seed: 42 });
    const wide = src.bars(['AAPL', 'MSFT', 'JPM'], { from: T0, to: T0 + 60 * DAY, interval: '1d' }).filter((b) => b.symbol === 'MSFT');
    const narrow = src.bars(['MSFT'], { from: T0 + 20 * DAY, to: T0 + 25 * DAY, interval: '1d' });
    expect(narrow).toHaveLength(4); // 2026-01-26..29 (the 25th is a Sunday)
    expect(strip(narrow)).toEqual(strip(wide.filter((b) => b.eventTime >= T0 + 20 * DAY && b.eventTime < T0 + 25 * DAY)));

    const h1 = await src.history('MSFT', { from: T0, to: T0 + 60 * DAY, interval: '1d' });
    const h2 = await createSyntheticSource({ seed: 42 }).history('MSFT', { from: T0, to: T0 + 60 * DAY, interval: '1d' });
    expect(h1.every((b) => b.source === 'backfill')).toBe(true);
    expect(strip(h1)).toEqual(strip(h2));
    expect(h1.map((b) => [b.eventTime, b.close])).toEqual(wide.map((b) => [b.eventTime, b.close]));
  });

  it('aligns bars to the session open and chains them within a session; a day opens and closes where its hours do', () => {
    const src = createSyntheticSource({ seed: 3 });
    const hours = src.bars(['NVDA'], { from: T0 + 1234, to: T0 + 2 * DAY, interval: '1h' });
    expect(hours).toHaveLength(2 * 7); // 09:30, 10:30, … 15:30 (the last one half an hour) on two sessions
    expect(hours[0]?.eventTime).toBe(OPEN); // first bar at or after `from`: the session's open
    for (let i = 1; i < hours.length; i++) {
      if (i === 7) continue; // the next session: a day later, after the overnight gap
      expect(hours[i]?.eventTime).toBe((hours[i - 1] as PriceUpdate).eventTime + 3_600_000);
      expect(hours[i]?.open).toBe(hours[i - 1]?.close);
    }
    expect(hours[7]?.eventTime).toBe(OPEN + DAY);
    const days = src.bars(['NVDA'], { from: T0, to: T0 + 2 * DAY, interval: '1d' });
    expect(days.map((d) => d.eventTime)).toEqual([T0, T0 + DAY]);
    expect(days[0]?.open).toBe(hours[0]?.open);
    expect(days[0]?.close).toBe(hours[6]?.close); // the 15:30-16:00 bar closes the day
    expect(days[1]?.open).toBe(hours[7]?.open);
    expect(days[1]?.open).not.toBe(days[0]?.close); // overnight gap
  });

  it('keeps OHLC relationships, positive prices and volume over many bars of every interval', () => {
    const src = createSyntheticSource({ seed: 99 });
    const symbols = ['AAPL', 'TSLA', 'JPM', 'ZZZZ', 'PENNY'];
    const all = [
      ...src.bars(symbols, { from: T0, to: T0 + 20 * DAY, interval: '1m' }),
      ...src.bars(symbols, { from: T0, to: T0 + 400 * DAY, interval: '1h' }),
      ...src.bars(symbols, { from: Date.UTC(1975, 0, 1), to: Date.UTC(2100, 0, 1), interval: '1d' }),
      ...src.bars(symbols, { from: OPEN, to: OPEN + 3_600_000, interval: 'tick' }),
      ...src.bars(symbols, { from: Date.UTC(2026, 10, 27), to: Date.UTC(2026, 10, 28), interval: '5m' }), // a half day
    ];
    expect(all.length).toBeGreaterThan(200_000);
    const broken = all.filter((b) => !(b.high >= Math.max(b.open, b.close) && b.low <= Math.min(b.open, b.close) && b.low > 0 && b.volume > 0
      && Number.isInteger(b.volume)));
    expect(broken).toEqual([]);
    const invalid = all.filter((b) => validatePriceUpdate(b, Date.UTC(2101, 0, 1)) !== null);
    expect(invalid).toEqual([]);
    const minutes = all.filter((b) => b.interval === '1m');
    expect(minutes).toHaveLength(14 * 390 * symbols.length); // 14 sessions in 20 days from 2026-01-05 (MLK Day on the 19th)
    expect(minutes.filter((b) => b.high > b.low).length).toBeGreaterThan(0.9 * minutes.length); // bars have a real range, not flat
  });

  it('fills the version-2 fields: a vwap inside every bar near its middle, and trades of a plausible size', () => {
    const src = createSyntheticSource({ seed: 11 });
    const bars = [
      ...src.bars(['AAPL', 'PENNY'], { from: T0, to: T0 + DAY, interval: '1m' }),
      ...src.bars(['AAPL'], { from: OPEN, to: OPEN + 60_000, interval: 'tick' }),
    ];
    for (const b of bars) {
      expect(b.vwap).toBeGreaterThanOrEqual(b.low);
      expect(b.vwap).toBeLessThanOrEqual(b.high);
      expect(Number.isInteger(b.trades)).toBe(true);
      expect(b.trades).toBeGreaterThanOrEqual(1);
      expect(b.trades).toBeLessThanOrEqual(b.volume);
    }
    const ticks = bars.filter((b) => b.interval === 'tick');
    expect(ticks).toHaveLength(60);
    expect(ticks.every((b) => b.vwap === b.close)).toBe(true);
    const minutes = bars.filter((b) => b.interval === '1m');
    const meanShares = minutes.reduce((s, b) => s + b.volume / (b.trades as number), 0) / minutes.length;
    expect(meanShares).toBeGreaterThan(30);
    expect(meanShares).toBeLessThan(300);
    // the vwap is not just a copy of one of the prices
    expect(minutes.filter((b) => b.vwap !== b.open && b.vwap !== b.close).length).toBeGreaterThan(0.8 * minutes.length);
  });

  it('moves same-sector symbols together: over 30 daily returns a tech pair correlates |r| >= 0.7, more than cross-sector pairs', () => {
    for (const seed of [1, 2, 42, 1234]) {
      const src = createSyntheticSource({ seed });
      const returns = dailyReturns(src.bars([...TECH, 'JPM', 'XOM'], { from: T0, to: THIRTY_ONE_SESSIONS, interval: '1d' }));
      expect(returns.get('AAPL')).toHaveLength(30);
      const r = (a: string, b: string) => pearson(returns.get(a) as number[], returns.get(b) as number[]);
      const techPairs = TECH.flatMap((a, i) => TECH.slice(i + 1).map((b) => r(a, b)));
      const crossPairs = TECH.flatMap((a) => ['JPM', 'XOM'].map((b) => r(a, b)));
      expect(Math.max(...techPairs.map(Math.abs))).toBeGreaterThanOrEqual(0.7);
      const mean = (x: number[]) => x.reduce((s, y) => s + y, 0) / x.length;
      expect(mean(techPairs)).toBeGreaterThan(mean(crossPairs));
    }
  });

  it('lets the factor loadings be configured: without market and sector factors symbols move independently', () => {
    const src = createSyntheticSource({ seed: 5, marketLoading: 0, sectorLoading: 0 });
    const returns = dailyReturns(src.bars(TECH, { from: T0, to: T0 + 201 * DAY, interval: '1d' }));
    const r = pearson(returns.get('AAPL') as number[], returns.get('MSFT') as number[]);
    expect(Math.abs(r)).toBeLessThan(0.3);
    expect(() => createSyntheticSource({ marketLoading: 0.9, sectorLoading: 0.9 })).toThrow(/must be <= 1/);
  });

  it('fetch() returns the last completed bar once acknowledged, then only new bars, catching up after a pause', async () => {
    const now = OPEN + 10 * 60_000 + 30_000; // 09:40:30 New York
    const a = createSyntheticSource({ seed: 11, interval: '1m', maxCatchUpBars: 5 });
    const first = await a.fetch(['AAPL', 'MSFT'], now);
    expect(first.map((b) => [b.symbol, b.eventTime])).toEqual([['AAPL', OPEN + 9 * 60_000], ['MSFT', OPEN + 9 * 60_000]]);
    expect(first.every((b) => b.source === 'synthetic' && b.ingestTime === now)).toBe(true);
    a.acknowledge(first);
    expect(await a.fetch(['AAPL', 'MSFT'], now + 20_000)).toEqual([]); // same minute: nothing new
    const later = await a.fetch(['AAPL', 'MSFT'], now + 3 * 60_000);
    expect(later.map((b) => b.eventTime)).toEqual([10, 10, 11, 11, 12, 12].map((m) => OPEN + m * 60_000));
    a.acknowledge(later);
    const afterPause = await a.fetch(['AAPL'], now + 60 * 60_000);
    expect(afterPause).toHaveLength(5); // capped catch-up
    // Another instance fed the same times returns the same bars.
    const b = createSyntheticSource({ seed: 11, interval: '1m', maxCatchUpBars: 5 });
    expect(strip(await b.fetch(['AAPL', 'MSFT'], now))).toEqual(strip(first));
    // The bars fetch() returns are the ones bars() and history() give for that time.
    expect(strip(first.slice(0, 1))).toEqual(strip(a.bars(['AAPL'], { from: OPEN + 9 * 60_000, to: OPEN + 10 * 60_000, interval: '1m' })));
  });

  it('fetch() moves on only after acknowledge: bars not acknowledged are offered again, also in a later minute', async () => {
    const now = OPEN + 10 * 60_000 + 30_000;
    const src = createSyntheticSource({ seed: 11, interval: '1m', maxCatchUpBars: 5 });
    const times = (bars: readonly { symbol: string; eventTime: number }[]) => bars.map((b) => [b.symbol, (b.eventTime - OPEN) / 60_000]);
    const first = await src.fetch(['AAPL', 'MSFT'], now);
    expect(times(await src.fetch(['AAPL', 'MSFT'], now + 20_000))).toEqual(times(first)); // the send failed: same bars
    // Still not acknowledged a minute later: the first bar again, plus the new one.
    expect(times(await src.fetch(['AAPL', 'MSFT'], now + 60_000))).toEqual([['AAPL', 9], ['MSFT', 9], ['AAPL', 10], ['MSFT', 10]]);
    src.acknowledge(first.filter((b) => b.symbol === 'AAPL'));
    expect(times(await src.fetch(['AAPL', 'MSFT'], now + 60_000))).toEqual([['AAPL', 10], ['MSFT', 9], ['MSFT', 10]]);
    src.acknowledge(await src.fetch(['AAPL', 'MSFT'], now + 60_000));
    expect(await src.fetch(['AAPL', 'MSFT'], now + 80_000)).toEqual([]); // same minute, all acknowledged
  });
});
