// `explain SYMBOL INTERVAL DATE|ISO-TIME`: one bar as price_data holds it and its revisions (price_revisions, migration
// 011): each record that changed it, by offset (version) and partition, when the sink wrote it, its values and what
// changed from the revision before. A bar never revised has no revisions: its row alone.
import type { Pool } from '../../lib/stores/postgres.ts';
import { PRICE_INTERVALS, type PriceInterval } from '../../topics/price-update.ts';

export interface BarRevision {
  version: number; partition: number | null; writtenAt: string | null; changed: string[];
  open: number; high: number; low: number; close: number; volume: number; vwap: number | null; trades: number | null;
  source: string; final: boolean | null; adjusted: boolean | null;
}
export interface BarHistory {
  symbol: string; interval: PriceInterval; ts: string;
  current: (Omit<BarRevision, 'partition' | 'writtenAt' | 'changed' | 'version'> & { version: number | null }) | null;
  revisions: BarRevision[];
}

/** The bar's start: a date (YYYY-MM-DD: 00:00 UTC, a daily bar's key) or an ISO time with a zone. */
export function parseBarTime(s: string): number {
  const t = /^\d{4}-\d{2}-\d{2}$/.test(s) ? Date.parse(`${s}T00:00:00Z`) : /(Z|[+-]\d{2}:?\d{2})$/.test(s) ? Date.parse(s) : NaN;
  if (!Number.isFinite(t)) throw new Error(`${JSON.stringify(s)} is neither a date (YYYY-MM-DD) nor an ISO time with a zone`);
  return t;
}

export function isInterval(s: string): s is PriceInterval { return (PRICE_INTERVALS as readonly string[]).includes(s); }

const VALUES = `open, high, low, close, volume, vwap, trades::float8 AS trades, source, final, adjusted`;

export async function barHistory(pool: Pool, symbol: string, interval: PriceInterval, at: number): Promise<BarHistory> {
  const key = [symbol.toUpperCase(), interval, new Date(at).toISOString()];
  const cur = await pool.query(`SELECT ${VALUES}, version::float8 AS version FROM price_data WHERE symbol = $1 AND interval = $2 AND ts = $3::timestamptz`, key);
  const revs = await pool.query(
    `SELECT ${VALUES}, version::float8 AS version, partition, to_char(written_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "writtenAt", changed
     FROM price_revisions WHERE symbol = $1 AND interval = $2 AND ts = $3::timestamptz ORDER BY version`, key);
  return { symbol: key[0]!, interval, ts: key[2]!, current: cur.rows[0] ?? null, revisions: revs.rows as BarRevision[] };
}
