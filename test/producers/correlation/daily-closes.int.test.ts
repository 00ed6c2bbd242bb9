// Daily closes read from the real PostgreSQL (issue #22, item 1): a day's close is the session's close, never a midday bar.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDailyCloses } from '../../../producers/correlation/daily-closes.ts';
import { sessionCloseUtc } from '../../../lib/us-session.ts';
import { createPgPool, migrate, type Pool } from '../../../lib/stores/postgres.ts';
import { randomSymbol, testConfig } from '../../helpers/index.ts';

const MIN = 60_000, HOUR = 60 * MIN;
type Row = { symbol: string; interval: string; ts: number; close: number };

describe('readDailyCloses (PostgreSQL price_data)', () => {
  let pool: Pool;
  const symbols: string[] = [];
  const sym = () => { const s = randomSymbol(); symbols.push(s); return s; };
  const insert = async (rows: Row[]) => {
    await pool.query(`INSERT INTO price_data (symbol, interval, ts, open, high, low, close, volume, source, quality, ingested_at)
      SELECT s, i, to_timestamp(t / 1000.0), c, c, c, c, 1, 'backfill', 1, now()
      FROM unnest($1::text[], $2::text[], $3::float8[], $4::float8[]) AS x(s, i, t, c)`,
    [rows.map((r) => r.symbol), rows.map((r) => r.interval), rows.map((r) => r.ts), rows.map((r) => r.close)]);
  };

  beforeAll(async () => {
    pool = createPgPool(testConfig(), { max: 2 });
    await migrate(pool);
  });
  afterAll(async () => {
    if (symbols.length) await pool.query('DELETE FROM price_data WHERE symbol = ANY($1::text[])', [symbols]);
    await pool.end();
  });

  it('finds 16:00 America/New_York in winter (EST) and summer (EDT) with Intl', () => {
    expect(new Date(sessionCloseUtc('2026-01-06')).toISOString()).toBe('2026-01-06T21:00:00.000Z');
    expect(new Date(sessionCloseUtc('2026-07-07')).toISOString()).toBe('2026-07-07T20:00:00.000Z');
    // The day after the spring change (2026-03-08) is already EDT.
    expect(new Date(sessionCloseUtc('2026-03-09')).toISOString()).toBe('2026-03-09T20:00:00.000Z');
  });

  it('a noon 1h backfill plus live 1m bars to 16:00: the close is the 15:59 1m bar, not the 11:30 hourly bar', async () => {
    const s = sym();
    const day = '2026-01-06', close = sessionCloseUtc(day); // 21:00 UTC
    const open = close - 390 * MIN; // 09:30 ET
    const hourly = [0, 1, 2].map((h) => ({ symbol: s, interval: '1h', ts: open + h * HOUR, close: 100 + h })); // 09:30, 10:30, 11:30
    const minutes = Array.from({ length: 390 }, (_, m) => ({ symbol: s, interval: '1m', ts: open + m * MIN, close: 200 + m / 100 }));
    await insert([...hourly, ...minutes]);
    const closes = await readDailyCloses(pool, { from: Date.UTC(2026, 0, 6), to: Date.UTC(2026, 0, 7), symbols: [s] });
    expect(closes.get(s)?.get(day)).toBe(200 + 389 / 100);
  });

  it('a day whose producer stopped at 11:00 has no close; a day with bars to the close has one (summer time)', async () => {
    const s = sym();
    const stopped = '2026-07-07', full = '2026-07-08';
    const openOf = (d: string) => sessionCloseUtc(d) - 390 * MIN;
    const fiveMin = (d: string, bars: number) =>
      Array.from({ length: bars }, (_, i) => ({ symbol: s, interval: '5m', ts: openOf(d) + i * 5 * MIN, close: 50 + i }));
    await insert([...fiveMin(stopped, 18), ...fiveMin(full, 78)]); // 09:30..11:00 ET, then 09:30..16:00 ET
    const closes = await readDailyCloses(pool, { from: Date.UTC(2026, 6, 7), to: Date.UTC(2026, 6, 9), symbols: [s] });
    expect(closes.get(s)?.has(stopped)).toBe(false);
    expect(closes.get(s)?.get(full)).toBe(50 + 77);
  });

  it('takes the hourly bar ending at the close over later after-hours bars, and a 1d bar over every intraday bar', async () => {
    const s = sym();
    const day = '2026-01-07', close = sessionCloseUtc(day);
    // Hourly bars on the clock hour all UTC day long (as a 24x7 source makes them): 20:00 UTC ends at 16:00 ET.
    const hourly = Array.from({ length: 24 }, (_, h) => ({ symbol: s, interval: '1h', ts: Date.UTC(2026, 0, 7, h), close: 300 + h }));
    const other = sym();
    await insert([...hourly, ...hourly.map((b) => ({ ...b, symbol: other })),
      { symbol: other, interval: '1d', ts: Date.UTC(2026, 0, 7), close: 999 }]);
    const closes = await readDailyCloses(pool, { from: Date.UTC(2026, 0, 7), to: Date.UTC(2026, 0, 8), symbols: [s, other] });
    expect(new Date(close).getUTCHours()).toBe(21);
    expect(closes.get(s)?.get(day)).toBe(300 + 20);
    expect(closes.get(other)?.get(day)).toBe(999);
  });

  it('keys each day by its New York date: an intraday bar after 19:00 ET belongs to that day, not the next UTC day', async () => {
    const s = sym();
    // A tick at 15:58 EST and one at 20:30 EST (01:30 UTC the next day, after the session): only the first counts.
    await insert([{ symbol: s, interval: 'tick', ts: sessionCloseUtc('2026-01-08') - 2 * MIN, close: 41 },
      { symbol: s, interval: 'tick', ts: Date.UTC(2026, 0, 9, 1, 30), close: 42 }]);
    const closes = await readDailyCloses(pool, { from: Date.UTC(2026, 0, 8), to: Date.UTC(2026, 0, 10), symbols: [s] });
    expect([...(closes.get(s) ?? new Map())]).toEqual([['2026-01-08', 41]]);
  });
});
