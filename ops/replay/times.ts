// The times and durations replay's options take: an ISO 8601 time (`--to-datetime`, `--to`, `--event-time`) and an ISO
// 8601 duration (`--by-duration`), in the forms kafka-consumer-groups accepts.
import { ValidationError } from '../../lib/errors.ts';

const TIME = /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/;

/**
 * `2026-11-20T09:00:00Z`, `2026-11-20T09:00:00.000+01:00`, `2026-11-20` (UTC midnight) → epoch ms; a time without a
 * zone is local time (as kafka-consumer-groups --to-datetime takes it). null when `s` is not one.
 */
export function parseIsoTime(s: string): number | null {
  const v = s.trim();
  const at = TIME.test(v) ? Date.parse(v) : Number.NaN;
  return Number.isNaN(at) ? null : at;
}

/** parseIsoTime, or a ValidationError naming the option. */
export function isoTime(s: string, option: string): number {
  const at = parseIsoTime(s);
  if (at === null) throw new ValidationError(`${option} ${JSON.stringify(s)}: expected an ISO 8601 time (e.g. 2026-11-20T09:00:00Z or 2026-11-20)`);
  return at;
}

const DURATION = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:[.,]\d{1,9})?)S)?)?$/i;
const DAY = 86_400_000;

/**
 * An ISO 8601 duration of fixed length, `PnDTnHnMnS` as kafka-consumer-groups --by-duration takes it (Java's
 * Duration.parse): `PT1H`, `P1D`, `P1DT2H30M`, `PT90S`, `PT0.5S`, in milliseconds. Years, months and weeks have no
 * fixed length and are refused (give days: `P30D`); so is a negative duration (it would point into the future).
 */
export function parseIsoDuration(s: string): number {
  const v = s.trim();
  const m = DURATION.exec(v);
  const parts = m ? [m[1], m[2], m[3], m[4]] : [];
  if (!m || parts.every((x) => x === undefined) || /T$/i.test(v)) {
    const hint = /^-/.test(v) ? ': a negative duration points into the future'
      : /^P.*[YW]|^P[^T]*\d+M/i.test(v) ? ': years, months and weeks have no fixed length, give days (P30D)' : '';
    throw new ValidationError(`--by-duration ${JSON.stringify(s)}: expected an ISO 8601 duration PnDTnHnMnS (e.g. PT1H, P1D, P1DT2H30M, PT90S)${hint}`);
  }
  const [d, h, min, sec] = parts.map((x) => Number((x ?? '0').replace(',', '.'))) as [number, number, number, number];
  const ms = d * DAY + h * 3_600_000 + min * 60_000 + Math.round(sec * 1000);
  if (!Number.isSafeInteger(ms)) throw new ValidationError(`--by-duration ${JSON.stringify(s)}: too long`);
  return ms;
}
