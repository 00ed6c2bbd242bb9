// Backfill ranges: `7D`, `1M`, `3M`, `6M`, `YTD`, `1Y`, `3Y`, `5Y`, `MAX` or N days back from now, turned into the
// [from, to) window of bar starts to fetch. Pure; calendar arithmetic in UTC, `from` aligned down to a bar boundary so
// two runs on the same day ask for the same bars.
import { intervalMs, type HISTORY_FEEDS } from '../topics/price-update.ts';

export const BACKFILL_RANGES = ['7D', '1M', '3M', '6M', 'YTD', '1Y', '3Y', '5Y', 'MAX'] as const;
export type BackfillRange = (typeof BACKFILL_RANGES)[number];
export const BACKFILL_INTERVALS = ['1d', '1h', '1m'] as const;
export type BackfillInterval = (typeof BACKFILL_INTERVALS)[number];
export type HistorySourceName = (typeof HISTORY_FEEDS)[number];

const DAY_MS = 86_400_000;
/** Yahoo serves hourly bars for the last 730 days only; asking for more fails the whole request. */
export const HOURLY_HISTORY_DAYS = 729;
/** And 1m bars for the last 30 days. */
export const MINUTE_HISTORY_DAYS = 29;
/** Where MAX starts for the synthetic source's daily bars (its random walk covers 1970–2106; 2000 gives ~26 years). */
export const SYNTHETIC_MAX_FROM = Date.UTC(2000, 0, 1);
/** Where MAX starts for sources with real history (Yahoo answers from the listing date; a file from its first row). */
export const EARLIEST_MAX_FROM = Date.UTC(1970, 0, 2);

export interface Window {
  from: number;
  to: number;
  /** Why `from` is later than the range asked for, when it is. */
  clamped?: string;
}

/** The window of a range (or `days`) ending at `now`, for a source and interval. */
export function backfillWindow(
  spec: { range: BackfillRange } | { days: number }, o: { now: number; interval: BackfillInterval; source: HistorySourceName },
): Window {
  const { now, interval, source } = o;
  const d = new Date(now);
  const monthsBack = (m: number) => Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - m, d.getUTCDate());
  let from: number;
  if ('days' in spec) from = now - spec.days * DAY_MS;
  else {
    switch (spec.range) {
      case '7D': from = now - 7 * DAY_MS; break;
      case '1M': from = monthsBack(1); break;
      case '3M': from = monthsBack(3); break;
      case '6M': from = monthsBack(6); break;
      case 'YTD': from = Date.UTC(d.getUTCFullYear(), 0, 1); break;
      case '1Y': from = monthsBack(12); break;
      case '3Y': from = monthsBack(36); break;
      case '5Y': from = monthsBack(60); break;
      case 'MAX': from = source === 'synthetic' && interval === '1d' ? SYNTHETIC_MAX_FROM : EARLIEST_MAX_FROM; break;
    }
  }
  let clamped: string | undefined;
  const reach = historyReach(interval, source, now);
  if (reach && from < reach.from) ({ from, why: clamped } = reach);
  const step = intervalMs(interval);
  // Down to the bar containing `from`; up when clamped, so the limit is not overstepped.
  from = (clamped ? Math.ceil(from / step) : Math.floor(from / step)) * step;
  return clamped ? { from, to: now, clamped } : { from, to: now };
}

/**
 * How far back a source serves bars of an interval, when it is limited: Yahoo's 730 days of hourly and 30 days of 1m
 * bars, applied to the synthetic source too so both give the same span; a file has what it has.
 */
export function historyReach(interval: BackfillInterval, source: HistorySourceName, now: number): { from: number; why: string } | null {
  if (source === 'file' || interval === '1d') return null;
  const days = interval === '1h' ? HOURLY_HISTORY_DAYS : MINUTE_HISTORY_DAYS;
  return { from: now - days * DAY_MS, why: `${interval === '1h' ? 'hourly' : '1m'} history is limited to the last ${days} days` };
}
