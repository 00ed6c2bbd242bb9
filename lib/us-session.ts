// New York session dates and times for callers that think in exchange dates (the daily closes): a thin face of the
// US exchange calendar (lib/calendar.ts), which knows the holidays, the half days and daylight saving time.
import { US_CALENDAR, US_CLOSE_MINUTE, US_OPEN_MINUTE, US_TIME_ZONE } from './calendar.ts';
import { wallTimeToUtc } from './time-zone.ts';

export const EXCHANGE_TIME_ZONE = US_TIME_ZONE;
export const SESSION_OPEN_MINUTE = US_OPEN_MINUTE;
export const SESSION_CLOSE_MINUTE = US_CLOSE_MINUTE;

/** The New York date (YYYY-MM-DD) of instant `t`. */
export function exchangeDate(t: number): string {
  return US_CALENDAR.dateOf(t);
}

/** The instant of `minute` minutes after midnight, New York time, on `day` (YYYY-MM-DD). */
export function exchangeTime(day: string, minute: number): number {
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  return wallTimeToUtc(Date.UTC(y, m - 1, d) + minute * 60_000, EXCHANGE_TIME_ZONE);
}

/**
 * The instant the session of `day` closes: 16:00 New York, 13:00 on a half day. A day without a session (a weekend, a
 * holiday) gets the regular 16:00, so callers that walk every date still get an instant; no bar trades then anyway.
 */
export function sessionCloseUtc(day: string): number {
  return US_CALENDAR.session(day)?.close ?? exchangeTime(day, SESSION_CLOSE_MINUTE);
}
