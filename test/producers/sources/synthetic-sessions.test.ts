// Issue #22 item 3: the synthetic source trades only inside the US exchange's sessions. One test per defect the issue
// lists (each failed on the 24/7 source): a 1m bar at Saturday 03:00, daily history with weekends and holidays, no
// overnight gap, volume per second as daily/86,400, volatility annualised over 365.25 days, and a restart that
// emits only the latest bar. Expected sessions are written out here (New York 09:30–16:00 = 14:30–21:00 UTC in
// winter), not taken from lib/calendar.ts, so the tests say what the exchange does independently of the code.
import { describe, expect, it } from 'vitest';
import { createSyntheticSource } from '../../../producers/sources/synthetic.ts';
import type { PriceUpdate } from '../../../schemas/types.generated.ts';

const MIN = 60_000, HOUR = 60 * MIN, DAY = 24 * HOUR;
/** 14:30 UTC = 09:30 New York (EST) on a winter date (YYYY-MM-DD). */
const winterOpen = (day: string) => Date.parse(`${day}T14:30:00Z`);
const strip = (bars: PriceUpdate[]) => bars.map(({ ingestTime: _, source: __, ...rest }) => rest);
const WEEK = ['2026-01-12', '2026-01-13', '2026-01-14', '2026-01-15', '2026-01-16']; // Monday to Friday, no holiday

describe('synthetic source: only inside exchange sessions (issue #22 item 3)', () => {
  it('emits no bar while the market is closed: none at Saturday 03:00, none at night, none on a holiday', async () => {
    const src = createSyntheticSource({ seed: 1, interval: '1m' });
    const saturday = Date.parse('2026-01-10T08:00:00Z'); // Saturday 03:00 New York
    expect(src.bars(['AAPL'], { from: saturday, to: saturday + HOUR, interval: '1m' })).toEqual([]);
    expect(src.bars(['AAPL'], { from: Date.parse('2026-01-13T08:00:00Z'), to: Date.parse('2026-01-13T14:30:00Z'), interval: '1m' })).toEqual([]);
    expect(src.bars(['AAPL'], { from: Date.parse('2026-01-19T00:00:00Z'), to: Date.parse('2026-01-20T00:00:00Z'), interval: '1m' })).toEqual([]); // MLK Day
    // A week of 1m bars: 390 a session, each inside 09:30–16:00 New York.
    const week = src.bars(['AAPL'], { from: Date.parse('2026-01-10T00:00:00Z'), to: Date.parse('2026-01-17T00:00:00Z'), interval: '1m' });
    expect(week).toHaveLength(5 * 390);
    for (const b of week) {
      const open = winterOpen(new Date(b.eventTime).toISOString().slice(0, 10));
      expect(b.eventTime - open).toBeGreaterThanOrEqual(0);
      expect(b.eventTime - open).toBeLessThan(390 * MIN);
    }
    // Polled on Saturday, the freshest bar is Friday's last one (15:59 New York), not a Saturday bar.
    const polled = await src.fetch(['AAPL'], saturday);
    expect(polled.map((b) => new Date(b.eventTime).toISOString())).toEqual(['2026-01-09T20:59:00.000Z']);
  });

  it('gives daily history without weekends or holidays: one 1d bar per session, at 00:00 UTC of its date', () => {
    const src = createSyntheticSource({ seed: 2 });
    const days = src.bars(['MSFT'], { from: Date.UTC(2025, 11, 20), to: Date.UTC(2026, 0, 24), interval: '1d' });
    expect(days.map((b) => new Date(b.eventTime).toISOString().slice(0, 10))).toEqual([
      '2025-12-22', '2025-12-23', '2025-12-24', '2025-12-26', // 25 Christmas
      '2025-12-29', '2025-12-30', '2025-12-31', '2026-01-02', // 1 January
      '2026-01-05', '2026-01-06', '2026-01-07', '2026-01-08', '2026-01-09',
      '2026-01-12', '2026-01-13', '2026-01-14', '2026-01-15', '2026-01-16',
      '2026-01-20', '2026-01-21', '2026-01-22', '2026-01-23', // 19 MLK Day
    ]);
    expect(days.every((b) => b.eventTime % DAY === 0)).toBe(true);
  });

  it('opens each session away from the previous close (an overnight gap, the same for the same seed)', () => {
    const src = createSyntheticSource({ seed: 3 });
    const symbols = ['AAPL', 'NVDA', 'JPM'];
    const minutes = src.bars(symbols, { from: Date.UTC(2026, 0, 12), to: Date.UTC(2026, 0, 17), interval: '1m' });
    for (const s of symbols) {
      const own = minutes.filter((b) => b.symbol === s);
      for (let d = 1; d < WEEK.length; d++) {
        const first = own.find((b) => b.eventTime === winterOpen(WEEK[d]!))!;
        const last = own.find((b) => b.eventTime === winterOpen(WEEK[d - 1]!) + 389 * MIN)!;
        expect(first.open, `${s} ${WEEK[d]}`).not.toBe(last.close);
        // Within a session the bars chain: each opens at the previous close.
        const next = own.find((b) => b.eventTime === first.eventTime + MIN)!;
        expect(next.open).toBe(first.close);
      }
    }
    const days = src.bars(['AAPL'], { from: Date.UTC(2026, 0, 12), to: Date.UTC(2026, 2, 1), interval: '1d' });
    const gaps = days.slice(1).filter((b, i) => b.open !== days[i]!.close);
    expect(gaps.length).toBeGreaterThanOrEqual(0.9 * (days.length - 1));
    expect(strip(createSyntheticSource({ seed: 3 }).bars(['AAPL'], { from: Date.UTC(2026, 0, 12), to: Date.UTC(2026, 2, 1), interval: '1d' })))
      .toEqual(strip(days));
  });

  it('spreads the daily volume over the 390 minutes of a session, U-shaped: busy open and close, quiet midday', () => {
    const src = createSyntheticSource({ seed: 4 });
    const sessions = ['2026-01-12', '2026-01-13', '2026-01-14', '2026-01-15', '2026-01-16', '2026-01-20', '2026-01-21', '2026-01-22'];
    const ratios: number[] = [];
    let opening = 0, midday = 0, closing = 0;
    for (const day of sessions) {
      const d = Date.parse(`${day}T00:00:00Z`);
      const daily = src.bars(['AAPL'], { from: d, to: d + DAY, interval: '1d' })[0]!;
      const open = winterOpen(day);
      const minutes = src.bars(['AAPL'], { from: open, to: open + 390 * MIN, interval: '1m' });
      ratios.push(minutes.reduce((s, b) => s + b.volume, 0) / daily.volume);
      const sum = (from: number, to: number) => minutes.filter((b) => b.eventTime >= open + from * MIN && b.eventTime < open + to * MIN)
        .reduce((s, b) => s + b.volume, 0);
      opening += sum(0, 30); midday += sum(150, 180); closing += sum(360, 390);
    }
    for (const r of ratios) { expect(r).toBeGreaterThan(0.8); expect(r).toBeLessThan(1.25); }
    const mean = ratios.reduce((s, r) => s + r, 0) / ratios.length;
    expect(mean).toBeGreaterThan(0.9);
    expect(mean).toBeLessThan(1.1);
    expect(opening).toBeGreaterThan(1.8 * midday);
    expect(closing).toBeGreaterThan(1.8 * midday);
    const d = Date.UTC(2026, 0, 12);
    expect(src.bars(['AAPL'], { from: d, to: d + DAY, interval: '1m' })).toHaveLength(390); // the whole UTC day holds one session
  });

  it('annualises volatility over 252 trading days: daily log returns × √252 give the configured volatility', () => {
    const src = createSyntheticSource({ seed: 5, volatility: [0.3, 0.3] });
    for (const symbol of ['AAPL', 'XOM', 'ZZZZ']) {
      const days = src.bars([symbol], { from: Date.UTC(2000, 0, 1), to: Date.UTC(2026, 0, 1), interval: '1d' });
      const r = days.slice(1).map((b, i) => Math.log(b.close / days[i]!.close));
      const mean = r.reduce((s, x) => s + x, 0) / r.length;
      const sd = Math.sqrt(r.reduce((s, x) => s + (x - mean) ** 2, 0) / (r.length - 1));
      expect(sd * Math.sqrt(252), symbol).toBeGreaterThan(0.28);
      expect(sd * Math.sqrt(252), symbol).toBeLessThan(0.32);
    }
  });

  it('after a restart regenerates the bars missed since the last one published, the same bars whatever the restart pattern', async () => {
    const monday = '2026-01-12';
    const open = winterOpen(monday);
    const symbols = ['AAPL', 'MSFT'];
    const before = createSyntheticSource({ seed: 6, interval: '1m' });
    const published: PriceUpdate[] = [];
    for (const now of [open + 30 * MIN + 5_000, open + 31 * MIN + 5_000, open + 90 * MIN + 5_000]) {
      const bars = await before.fetch(symbols, now);
      before.acknowledge(bars);
      published.push(...bars);
    }
    // Stopped at 11:00 New York, started again at 14:00: told what it published last, it fills 11:00–13:59.
    const after = createSyntheticSource({ seed: 6, interval: '1m' });
    const lastOf = (s: string) => Math.max(...published.filter((b) => b.symbol === s).map((b) => b.eventTime));
    after.resume(new Map(symbols.map((s) => [s, lastOf(s)])));
    const refill = await after.fetch(symbols, open + 270 * MIN + 5_000);
    expect(refill.filter((b) => b.symbol === 'AAPL').map((b) => (b.eventTime - open) / MIN)).toEqual(Array.from({ length: 180 }, (_, i) => 90 + i));
    after.acknowledge(refill);
    published.push(...refill);
    const all = [...published].sort((a, b) => a.eventTime - b.eventTime || a.symbol.localeCompare(b.symbol));
    const expected = before.bars(symbols, { from: open + 29 * MIN, to: open + 270 * MIN, interval: '1m' });
    expect(strip(all)).toEqual(strip(expected));
  });

  it('after a weekend restart regenerates only trading minutes, and never more than maxCatchUpBars', async () => {
    const src = createSyntheticSource({ seed: 6, interval: '1m', maxCatchUpBars: 50 });
    src.resume(new Map([['AAPL', Date.parse('2026-01-16T20:59:00Z')]])); // Friday 15:59 New York; Monday 19 is MLK Day
    const tuesday = winterOpen('2026-01-20');
    const refill = await src.fetch(['AAPL'], tuesday + 5 * MIN + 5_000);
    expect(refill.map((b) => (b.eventTime - tuesday) / MIN)).toEqual([0, 1, 2, 3, 4]);
    expect(refill.every((b) => b.source === 'synthetic')).toBe(true); // all ended within the live window
    // A month-old last bar: the latest 50 minutes only (older holes are for backfill), the older ones as backfill.
    const late = createSyntheticSource({ seed: 6, interval: '1m', maxCatchUpBars: 50 });
    late.resume(new Map([['AAPL', Date.parse('2025-12-16T20:59:00Z')]]));
    const capped = await late.fetch(['AAPL'], tuesday + 120 * MIN + 5_000);
    expect(capped.map((b) => (b.eventTime - tuesday) / MIN)).toEqual(Array.from({ length: 50 }, (_, i) => 70 + i));
    expect(capped.filter((b) => b.source === 'backfill')).toHaveLength(40);
    expect(late.resumeQuery(tuesday + 120 * MIN + 5_000)).toEqual({ interval: '1m', since: tuesday + 20 * MIN });
    // Daily bars: the look back stops at two weeks, not 2 × 2,000 sessions.
    const daily = createSyntheticSource({ seed: 6, interval: '1d' });
    expect(daily.resumeQuery(tuesday)).toEqual({ interval: '1d', since: tuesday - 14 * DAY });
  });
});
