// Gaps of the series stored in PostgreSQL price_data: which series there are (with their first bar), and each one's bar
// times over a range, compared with the calendar by ./find.ts. Every read walks the primary key (symbol, interval, ts).
import type { ExchangeCalendar } from '../../lib/calendar.ts';
import type { Pool } from '../../lib/stores/postgres.ts';
import { findGaps, type BarInterval, type GapCount } from './find.ts';

export interface Series {
  symbol: string;
  interval: BarInterval;
  /** Event time of its first stored bar; null when it has none. */
  first: number | null;
}

export interface SeriesGaps extends GapCount {
  symbol: string;
  interval: BarInterval;
  /** The range checked: [since, until). */
  since: number;
  until: number;
}

export interface GapsReport {
  series: SeriesGaps[];
  /** Symbol and interval pairs asked for that have no bar and no --since to start from. */
  empty: Array<{ symbol: string; interval: BarInterval }>;
}

const ms = (column: string) => `(extract(epoch FROM ${column}) * 1000)::float8`;

/**
 * The series of `intervals` with their first bar: of `symbols` (each pair, bars or none), or, without symbols, every one
 * stored, found by a skip scan of the primary key (one index descent per series, however many rows each holds).
 */
export async function storedSeries(pool: Pool, o: { symbols?: readonly string[]; intervals: readonly BarInterval[] }): Promise<Series[]> {
  if (o.symbols) {
    const { rows } = await pool.query<{ symbol: string; interval: BarInterval; first: number | null }>(
      `SELECT s.symbol, i.interval,
              (SELECT ${ms('min(p.ts)')} FROM price_data p WHERE p.symbol = s.symbol AND p.interval = i.interval) AS first
       FROM unnest($1::text[]) WITH ORDINALITY s(symbol, n) CROSS JOIN unnest($2::text[]) WITH ORDINALITY i(interval, m)
       ORDER BY s.n, i.m`, [o.symbols, o.intervals]);
    return rows;
  }
  const { rows } = await pool.query<{ symbol: string; interval: BarInterval; first: number }>(
    `WITH RECURSIVE k AS (
       (SELECT symbol, interval, ts FROM price_data ORDER BY symbol, interval, ts LIMIT 1)
       UNION ALL
       SELECT n.symbol, n.interval, n.ts FROM k CROSS JOIN LATERAL (
         SELECT p.symbol, p.interval, p.ts FROM price_data p WHERE (p.symbol, p.interval) > (k.symbol, k.interval)
         ORDER BY p.symbol, p.interval, p.ts LIMIT 1) n
     )
     SELECT symbol, interval, ${ms('ts')} AS first FROM k WHERE interval = ANY($1) ORDER BY symbol, array_position($1, interval)`, [o.intervals]);
  return rows;
}

/** Event times of a series' bars in [from, to). */
export async function storedBarTimes(pool: Pool, symbol: string, interval: BarInterval, from: number, to: number): Promise<number[]> {
  const { rows } = await pool.query<{ t: number }>(
    `SELECT ${ms('ts')} AS t FROM price_data WHERE symbol = $1 AND interval = $2 AND ts >= to_timestamp($3 / 1000.0) AND ts < to_timestamp($4 / 1000.0)`,
    [symbol, interval, from, to]);
  return rows.map((r) => r.t);
}

export interface GapsQuery {
  calendar: ExchangeCalendar;
  intervals: readonly BarInterval[];
  /** Default: every symbol with bars of those intervals. */
  symbols?: readonly string[];
  /** Where each series is checked from; default its first bar (history before a series began is no gap). */
  since?: number;
  /** Never before this, whatever `since` says (the gauge's lookback). */
  notBefore?: number;
  /** Bars must have ended by then to be expected: now minus GAPS_GRACE_SECONDS. */
  until: number;
}

/** The gaps of every series asked for, in symbol then interval order. */
export async function storedGaps(pool: Pool, q: GapsQuery): Promise<GapsReport> {
  const report: GapsReport = { series: [], empty: [] };
  for (const s of await storedSeries(pool, { intervals: q.intervals, ...(q.symbols ? { symbols: q.symbols } : {}) })) {
    const start = q.since ?? s.first;
    if (start === null) { report.empty.push({ symbol: s.symbol, interval: s.interval }); continue; }
    const since = Math.max(start, q.notBefore ?? -Infinity);
    const stored = since < q.until ? await storedBarTimes(pool, s.symbol, s.interval, since, q.until) : [];
    report.series.push({ symbol: s.symbol, interval: s.interval, since, until: q.until, ...findGaps(q.calendar, s.interval, stored, since, q.until) });
  }
  return report;
}
