// Daily closes from PostgreSQL price_data for the correlation analyzer: one close per symbol and UTC day. A day's
// `1d` bar when there is one; otherwise the close of the day's last bar of the coarsest finer interval present
// (1h, then 5m, 1m, tick), so symbols fed only by the live producer still get daily closes.
import type { Pool } from '../../lib/stores/postgres.ts';
import type { DailyCloses } from './pearson.ts';

const DAILY_CLOSES = `
SELECT DISTINCT ON (symbol, day) symbol, to_char(day, 'YYYY-MM-DD') AS day, close
FROM (
  SELECT symbol, (ts AT TIME ZONE 'UTC')::date AS day, ts, close,
         CASE interval WHEN '1d' THEN 0 WHEN '1h' THEN 1 WHEN '5m' THEN 2 WHEN '1m' THEN 3 ELSE 4 END AS preference
  FROM price_data
  WHERE ts >= $1 AND ts < $2 AND ($3::text[] IS NULL OR symbol = ANY($3::text[])) AND close > 0
) bars
ORDER BY symbol, day, preference, ts DESC`;

/** Closes by UTC day in [from, to) for these symbols (null = every symbol with bars in the range). */
export async function readDailyCloses(pool: Pool, range: { from: number; to: number; symbols: readonly string[] | null }): Promise<Map<string, DailyCloses>> {
  const { rows } = await pool.query<{ symbol: string; day: string; close: number }>(
    DAILY_CLOSES, [new Date(range.from), new Date(range.to), range.symbols ? [...range.symbols] : null]);
  const out = new Map<string, Map<string, number>>();
  for (const r of rows) {
    let m = out.get(r.symbol);
    if (!m) out.set(r.symbol, (m = new Map()));
    m.set(r.day, Number(r.close));
  }
  return out;
}
