// Daily closes from PostgreSQL price_data for the correlation analyzer: one close per symbol and exchange day
// (YYYY-MM-DD, the New York date). The rule, whatever intervals a day has:
// - the day's `1d` bar when there is one (daily bars are keyed by the exchange date at UTC midnight);
// - else the intraday bar (1h, 5m, 1m or tick) that reaches furthest towards the session close, 16:00 New York or
//   13:00 on a half day (lib/us-session.ts on the exchange calendar, DST from Intl): it must start before the close
//   and end, counted up to the close, no more than CLOSE_TOLERANCE_MS before it. Among bars reaching equally far the later start (the finer bar) wins;
//   bars after the close (after hours, the next UTC day) never count;
// - else no close: a day whose bars stop at 11:00 is left out rather than given a midday "close".
import type { Pool } from '../../lib/stores/postgres.ts';
import { sessionCloseUtc } from '../../lib/us-session.ts';
import { intervalMs, PRICE_INTERVALS } from '../../topics/price-update.ts';
import type { DailyCloses } from './pearson.ts';

/** How far before the session close an intraday day's last bar may end and still give the day's close. */
export const CLOSE_TOLERANCE_MS = 15 * 60_000;
const DAY_MS = 86_400_000;

const DAILY_CLOSES = `
WITH sessions AS (SELECT * FROM unnest($4::date[], $5::float8[]) AS s(day, close_ms)),
     lengths AS (SELECT * FROM unnest($6::text[], $7::float8[]) AS l(interval, ms)),
     wanted AS (SELECT * FROM price_data
                WHERE ts >= $1 AND ts < $2 AND ($3::text[] IS NULL OR symbol = ANY($3::text[])) AND close > 0)
SELECT DISTINCT ON (symbol, day) symbol, to_char(day, 'YYYY-MM-DD') AS day, close
FROM (
  SELECT symbol, (ts AT TIME ZONE 'UTC')::date AS day, close, 0 AS intraday, 0::float8 AS reach, ts
  FROM wanted WHERE interval = '1d'
  UNION ALL
  SELECT b.symbol, s.day, b.close, 1, LEAST(extract(epoch FROM b.ts) * 1000 + l.ms, s.close_ms), b.ts
  FROM wanted b JOIN lengths l ON l.interval = b.interval
  JOIN sessions s ON extract(epoch FROM b.ts) * 1000 < s.close_ms AND extract(epoch FROM b.ts) * 1000 + l.ms >= s.close_ms - $8
) closes
ORDER BY symbol, day, intraday, reach DESC, ts DESC`;

/** Closes by exchange day for the days in [from, to) (UTC dates) and these symbols (null = every symbol with bars in the range). */
export async function readDailyCloses(pool: Pool, range: { from: number; to: number; symbols: readonly string[] | null }): Promise<Map<string, DailyCloses>> {
  const days: string[] = [];
  for (let d = Math.floor(range.from / DAY_MS) * DAY_MS; d < range.to; d += DAY_MS) days.push(new Date(d).toISOString().slice(0, 10));
  const intraday = PRICE_INTERVALS.filter((i) => i !== '1d');
  const { rows } = await pool.query<{ symbol: string; day: string; close: number }>(DAILY_CLOSES, [
    new Date(range.from), new Date(range.to), range.symbols ? [...range.symbols] : null, days, days.map(sessionCloseUtc),
    intraday, intraday.map(intervalMs), CLOSE_TOLERANCE_MS]);
  const out = new Map<string, Map<string, number>>();
  for (const r of rows) {
    let m = out.get(r.symbol);
    if (!m) out.set(r.symbol, (m = new Map()));
    m.set(r.day, Number(r.close));
  }
  return out;
}
