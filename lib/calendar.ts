// The exchange calendar: when the US equity exchanges (NYSE, Nasdaq) trade, and where bars of each interval fall.
// No package does this right (nyse-holidays, the one on npm, has no half days and no special closures, and reads
// dates in the machine's time zone), so the rules are generated here and tested against the holiday and early-close
// lists NYSE publishes (test/lib/calendar.test.ts).
//
// `us`: regular session 09:30–16:00 America/New_York (DST from Intl); half days close at 13:00. Holidays by NYSE Rule
// 7.2: New Year's Day, Martin Luther King Jr. Day (since 1998), Washington's Birthday, Good Friday, Memorial Day,
// Juneteenth (since 2022), Independence Day, Labor Day, Thanksgiving, Christmas; one on a Saturday is observed the
// Friday before, except New Year's Day (the year-end accounting period: no closure), one on a Sunday the Monday after.
// Half days: July 3 when it is Monday–Thursday, the day after Thanksgiving, Christmas Eve when it is Monday–Thursday.
// Special closures (mourning days, 9/11, Hurricane Sandy) are listed from 2001 on. The rules are today's: before the
// 2000s NYSE kept other holidays and half days (Election Day, Lincoln's Birthday, …) that are not modelled.
// `24x7`: every UTC day is one session 00:00–24:00 UTC (a market that never closes: the demo, benchmarks).
//
// Bars: intraday bars (1m, 5m, 1h) start at the session open and every interval after it; the last one ends at the
// close even when that cuts it short (the 15:30 hourly bar covers 30 minutes; on a half day the 12:30 one does), as
// Yahoo's bars do. A 1d bar per session has event time 00:00 UTC of the session's date, the convention the Yahoo
// backfill, the synthetic source and the daily closes share; it covers the session, open to close. Ticks: each second
// of a session.
import { intervalMs, type PriceInterval } from '../topics/price-update.ts';
import { wallTimeToUtc, zoneOffsetMs } from './time-zone.ts';

export const CALENDAR_NAMES = ['us', '24x7'] as const;
export type CalendarName = (typeof CALENDAR_NAMES)[number];

export const US_TIME_ZONE = 'America/New_York';
export const US_OPEN_MINUTE = 9 * 60 + 30;
export const US_CLOSE_MINUTE = 16 * 60;
export const US_EARLY_CLOSE_MINUTE = 13 * 60;

const MIN_MS = 60_000;
const DAY_MS = 86_400_000;

/** Trading hours of a day in the calendar's time zone: minutes after midnight, close exclusive. */
export interface Hours { open: number; close: number; early: boolean }

export interface Session {
  /** The exchange date, YYYY-MM-DD. */
  day: string;
  /** First and past-the-last instant of trading, epoch ms. */
  open: number;
  close: number;
  /** A half day (closes before the regular close). */
  early: boolean;
}

/** Where one bar falls: the record's event time, the trading time it covers [start, end), and its session. */
export interface BarSlot {
  /** The bar's event time: its start; for 1d, 00:00 UTC of the session's date. */
  eventTime: number;
  start: number;
  /** When the bar is complete: start + interval, or the session's close when that comes first. */
  end: number;
  session: Session;
}

export interface ExchangeCalendar {
  readonly name: CalendarName;
  readonly timeZone: string;
  /** The exchange date (YYYY-MM-DD) of instant `t`. */
  dateOf(t: number): string;
  /** Trading hours of `day` (YYYY-MM-DD), or null on a weekend or holiday; no time zone involved. */
  hours(day: string): Hours | null;
  isTradingDay(day: string): boolean;
  session(day: string): Session | null;
  /** The session trading at `t` (open <= t < close), or null while the market is closed. */
  sessionAt(t: number): Session | null;
  /** Sessions overlapping [from, to), in order. */
  sessionsBetween(from: number, to: number): Session[];
  /** The first session opening at or after `t`. */
  nextSession(t: number): Session;
  /** The last session closing at or before `t`. */
  previousSession(t: number): Session;
  /** Bars of `interval` whose event time lies in [from, to), in order. */
  bars(interval: PriceInterval, from: number, to: number): BarSlot[];
  /** The last `count` bars of `interval` complete at `t` (end <= t; a tick once its second has begun), oldest first. */
  lastBars(interval: PriceInterval, t: number, count: number): BarSlot[];
}

// --- dates as YYYY-MM-DD, day numbers since 1970-01-01 -------------------------------------------------------------

const dayNumber = (day: string): number => Date.parse(`${day}T00:00:00Z`) / DAY_MS;
const dayString = (n: number): string => new Date(n * DAY_MS).toISOString().slice(0, 10);
const ymd = (y: number, m: number, d: number): string => dayString(Date.UTC(y, m - 1, d) / DAY_MS);
const weekday = (n: number): number => (n + 4) % 7; // 0 = Sunday; 1970-01-01 was a Thursday

/** The `nth` (1-based; -1 = last) `wd` (0 = Sunday) of month `m` in year `y`, as a day number. */
function nthWeekday(y: number, m: number, wd: number, nth: number): number {
  if (nth > 0) {
    const first = Date.UTC(y, m - 1, 1) / DAY_MS;
    return first + ((wd - weekday(first) + 7) % 7) + 7 * (nth - 1);
  }
  const last = Date.UTC(y, m, 0) / DAY_MS;
  return last - ((weekday(last) - wd + 7) % 7);
}

/** Easter Sunday (Gregorian; anonymous algorithm), as a day number. */
function easter(y: number): number {
  const a = y % 19, b = Math.floor(y / 100), c = y % 100, d = Math.floor(b / 4), e = b % 4;
  const f = Math.floor((b + 8) / 25), g = Math.floor((b - f + 1) / 3), h = (19 * a + b - d - g + 15) % 30;
  const i = Math.floor(c / 4), k = c % 4, l = (32 + 2 * e + 2 * i - h - k) % 7, m = Math.floor((a + 11 * h + 22 * l) / 451);
  const month = Math.floor((h + l - 7 * m + 114) / 31), day = ((h + l - 7 * m + 114) % 31) + 1;
  return Date.UTC(y, month - 1, day) / DAY_MS;
}

/** A fixed-date holiday moved off the weekend (NYSE Rule 7.2); null when not observed (New Year's Day on a Saturday). */
function observed(y: number, m: number, d: number, saturdayToFriday = true): number | null {
  const n = Date.UTC(y, m - 1, d) / DAY_MS;
  const wd = weekday(n);
  if (wd === 6) return saturdayToFriday ? n - 1 : null;
  return wd === 0 ? n + 1 : n;
}

/** Full-day closures outside the rules. */
export const US_SPECIAL_CLOSURES: Readonly<Record<string, string>> = {
  '2001-09-11': 'September 11 attacks', '2001-09-12': 'September 11 attacks', '2001-09-13': 'September 11 attacks',
  '2001-09-14': 'September 11 attacks', '2004-06-11': 'National Day of Mourning for President Reagan',
  '2007-01-02': 'National Day of Mourning for President Ford', '2012-10-29': 'Hurricane Sandy', '2012-10-30': 'Hurricane Sandy',
  '2018-12-05': 'National Day of Mourning for President George H. W. Bush', '2025-01-09': 'National Day of Mourning for President Carter',
};

/** The days the US exchanges are closed in year `y` although it is a weekday, with the holiday's name. */
export function usHolidays(y: number): Map<string, string> {
  const out = new Map<number, string>();
  const add = (n: number | null, name: string) => { if (n !== null && weekday(n) !== 0 && weekday(n) !== 6) out.set(n, name); };
  add(observed(y, 1, 1, false), "New Year's Day"); // on a Saturday not moved back into the old year: 2021-12-31 traded
  if (y >= 1998) add(nthWeekday(y, 1, 1, 3), 'Martin Luther King Jr. Day');
  add(nthWeekday(y, 2, 1, 3), "Washington's Birthday");
  add(easter(y) - 2, 'Good Friday');
  add(nthWeekday(y, 5, 1, -1), 'Memorial Day');
  if (y >= 2022) add(observed(y, 6, 19), 'Juneteenth National Independence Day');
  add(observed(y, 7, 4), 'Independence Day');
  add(nthWeekday(y, 9, 1, 1), 'Labor Day');
  add(nthWeekday(y, 11, 4, 4), 'Thanksgiving Day');
  add(observed(y, 12, 25), 'Christmas Day');
  const days = new Map([...out].sort((a, b) => a[0] - b[0]).map(([n, name]) => [dayString(n), name]));
  for (const [day, name] of Object.entries(US_SPECIAL_CLOSURES)) if (day.startsWith(`${y}-`)) days.set(day, name);
  return new Map([...days].sort((a, b) => a[0].localeCompare(b[0])));
}

/** The half days (13:00 close) of year `y`, with the reason. */
export function usEarlyCloses(y: number): Map<string, string> {
  const out = new Map<string, string>();
  const weekdayBefore = (d: number) => { const wd = weekday(Date.UTC(y, 6, d) / DAY_MS); return wd >= 1 && wd <= 4; };
  if (weekdayBefore(3)) out.set(ymd(y, 7, 3), 'Day before Independence Day');
  out.set(dayString(nthWeekday(y, 11, 4, 4) + 1), 'Day after Thanksgiving');
  const eve = Date.UTC(y, 11, 24) / DAY_MS;
  if (weekday(eve) >= 1 && weekday(eve) <= 4) out.set(ymd(y, 12, 24), 'Christmas Eve');
  return out;
}

// --- calendars ----------------------------------------------------------------------------------------------------

function memo<K, V>(f: (k: K) => V): (k: K) => V {
  const cache = new Map<K, V>();
  return (k) => { if (cache.has(k)) return cache.get(k) as V; const v = f(k); cache.set(k, v); return v; };
}

function build(name: CalendarName, timeZone: string, hoursOf: (day: string) => Hours | null): ExchangeCalendar {
  const hours = memo(hoursOf);
  const toInstant = (day: string, minute: number) => wallTimeToUtc(dayNumber(day) * DAY_MS + minute * MIN_MS, timeZone);
  const session = memo((day: string): Session | null => {
    const h = hours(day);
    return h ? { day, open: toInstant(day, h.open), close: toInstant(day, h.close), early: h.early } : null;
  });
  const dateOf = (t: number) => new Date(t + zoneOffsetMs(t, timeZone)).toISOString().slice(0, 10);
  /** Sessions of the days from `first` (day number) in direction `step` until `stop` says so. */
  function* walk(first: number, step: 1 | -1): Generator<Session> {
    // Holidays never run more than a few days together (9/11: four weekdays); a bound keeps a bad input from looping.
    for (let n = first, idle = 0; idle < 30; n += step) {
      const s = session(dayString(n));
      if (s) { idle = 0; yield s; } else idle++;
    }
    throw new RangeError(`no session within 30 days of ${dayString(first)}`);
  }
  const sessionAt = (t: number) => {
    const s = session(dateOf(t));
    return s && s.open <= t && t < s.close ? s : null;
  };
  const nextSession = (t: number) => { for (const s of walk(dayNumber(dateOf(t)), 1)) if (s.open >= t) return s; throw new RangeError('unreachable'); };
  const previousSession = (t: number) => { for (const s of walk(dayNumber(dateOf(t)), -1)) if (s.close <= t) return s; throw new RangeError('unreachable'); };

  function sessionsBetween(from: number, to: number): Session[] {
    const out: Session[] = [];
    if (!(to > from)) return out;
    for (let n = dayNumber(dateOf(from)), last = dayNumber(dateOf(to)); n <= last; n++) {
      const s = session(dayString(n));
      if (s && s.close > from && s.open < to) out.push(s);
    }
    return out;
  }

  /** The bars of one session whose event time lies in [from, to). */
  function sessionBars(s: Session, interval: PriceInterval, from: number, to: number): BarSlot[] {
    if (interval === '1d') {
      const eventTime = dayNumber(s.day) * DAY_MS;
      return eventTime >= from && eventTime < to ? [{ eventTime, start: s.open, end: s.close, session: s }] : [];
    }
    const step = interval === 'tick' ? 1000 : intervalMs(interval);
    const out: BarSlot[] = [];
    const first = Math.max(0, Math.ceil((from - s.open) / step));
    for (let t = s.open + first * step; t < s.close && t < to; t += step) {
      out.push({ eventTime: t, start: t, end: interval === 'tick' ? t : Math.min(t + step, s.close), session: s });
    }
    return out;
  }

  function bars(interval: PriceInterval, from: number, to: number): BarSlot[] {
    if (!(to > from)) return [];
    if (interval === '1d') {
      const out: BarSlot[] = [];
      for (let n = Math.ceil(from / DAY_MS); n * DAY_MS < to; n++) {
        const s = session(dayString(n));
        if (s) out.push(...sessionBars(s, interval, from, to));
      }
      return out;
    }
    return sessionsBetween(from, to).flatMap((s) => sessionBars(s, interval, from, to));
  }

  function lastBars(interval: PriceInterval, t: number, count: number): BarSlot[] {
    if (count <= 0) return [];
    const chunks: BarSlot[][] = [];
    let need = count;
    for (const s of walk(dayNumber(dateOf(t)), -1)) {
      if (s.open > t) continue;
      // How many of the session's bars are complete at t: ended by then (a tick: begun), then the last `need` of them.
      if (interval === '1d') {
        if (t >= s.close) { chunks.unshift(sessionBars(s, interval, -Infinity, Infinity)); need--; }
      } else {
        const step = interval === 'tick' ? 1000 : intervalMs(interval);
        const all = Math.ceil((s.close - s.open) / step);
        const complete = t >= s.close ? all : Math.min(all, Math.floor((t - s.open) / step) + (interval === 'tick' ? 1 : 0));
        const taken = Math.min(need, complete);
        if (taken > 0) chunks.unshift(sessionBars(s, interval, s.open + (complete - taken) * step, s.open + complete * step));
        need -= taken;
      }
      if (need <= 0) break;
    }
    return chunks.flat();
  }

  return {
    name, timeZone, dateOf, hours, isTradingDay: (day) => hours(day) !== null, session, sessionAt, sessionsBetween, nextSession, previousSession,
    bars, lastBars,
  };
}

const usHolidaysOf = memo(usHolidays);
const usEarlyClosesOf = memo(usEarlyCloses);

/** NYSE/Nasdaq regular sessions (see the top of this file). */
export const US_CALENDAR: ExchangeCalendar = build('us', US_TIME_ZONE, (day) => {
  const n = dayNumber(day);
  const wd = weekday(n);
  const y = Number(day.slice(0, 4));
  if (wd === 0 || wd === 6 || usHolidaysOf(y).has(day)) return null;
  const early = usEarlyClosesOf(y).has(day);
  return { open: US_OPEN_MINUTE, close: early ? US_EARLY_CLOSE_MINUTE : US_CLOSE_MINUTE, early };
});

/** A market that never closes: one session per UTC day. */
export const ROUND_THE_CLOCK: ExchangeCalendar = build('24x7', 'UTC', () => ({ open: 0, close: 24 * 60, early: false }));

export function calendarOf(name: CalendarName): ExchangeCalendar {
  return name === 'us' ? US_CALENDAR : ROUND_THE_CLOCK;
}
