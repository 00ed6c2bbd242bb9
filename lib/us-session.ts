// The regular session of the US exchanges, 09:30–16:00 America/New_York, with daylight saving time from the time zone
// database behind Intl (no hand-made table). Holidays and half days are not known here: a caller that needs them must
// not assume every weekday trades.
import { wallTimeToUtc, zoneOffsetMs } from './time-zone.ts';

export const EXCHANGE_TIME_ZONE = 'America/New_York';
export const SESSION_OPEN_MINUTE = 9 * 60 + 30;
export const SESSION_CLOSE_MINUTE = 16 * 60;

/** The New York date (YYYY-MM-DD) of instant `t`. */
export function exchangeDate(t: number): string {
  return new Date(t + zoneOffsetMs(t, EXCHANGE_TIME_ZONE)).toISOString().slice(0, 10);
}

/** The instant of `minute` minutes after midnight, New York time, on `day` (YYYY-MM-DD). */
export function exchangeTime(day: string, minute: number): number {
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  return wallTimeToUtc(Date.UTC(y, m - 1, d) + minute * 60_000, EXCHANGE_TIME_ZONE);
}

/** The instant the regular session of `day` closes (16:00 New York). */
export function sessionCloseUtc(day: string): number {
  return exchangeTime(day, SESSION_CLOSE_MINUTE);
}
