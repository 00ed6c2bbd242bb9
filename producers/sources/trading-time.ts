// Trading time for the synthetic source: the clock its random walk runs on, and how a session's volume is spread.
// On the `us` calendar the clock runs one second per second of a session and stands still while the market is closed,
// except for a jump of `overnight` seconds just before each open: the overnight gap, a Gaussian of the walk like any
// other stretch, so it comes from the seed and can be looked up at random like every other point. A day's variance is
// then session + overnight, and 252 of them make a year. On `24x7` trading time is wall time (seconds since 1970).
import type { CalendarName, ExchangeCalendar, Session } from '../../lib/calendar.ts';

/** Trading days a year on the `us` calendar, the usual annualisation. */
export const TRADING_DAYS_PER_YEAR = 252;
const REGULAR_SESSION_SECONDS = 390 * 60;
const DAY_SECONDS = 86_400;

export interface TradingClock {
  /** Trading seconds in a year of the calendar: volatility per √second is annual volatility / √(this). */
  readonly secondsPerYear: number;
  /** Seconds of a regular (full) session; a half day's volume is its share of this. */
  readonly regularSessionSeconds: number;
  /** Trading time (whole seconds) at instant `t` of `session` (open <= t <= close). */
  at(session: Session, t: number): number;
  /** Trading time at any instant: while closed, that of the last close. */
  atInstant(t: number): number;
}

export function createTradingClock(calendar: ExchangeCalendar, overnightShare: number): TradingClock {
  if (calendar.name === '24x7') {
    return {
      secondsPerYear: 365.25 * DAY_SECONDS, regularSessionSeconds: DAY_SECONDS,
      at: (_s, t) => Math.floor(t / 1000), atInstant: (t) => Math.floor(t / 1000),
    };
  }
  // The overnight jump carries `overnightShare` of a day's variance: overnight / (session + overnight).
  const overnight = Math.round(REGULAR_SESSION_SECONDS * overnightShare / (1 - overnightShare));
  // Trading time at each session's open, built a year at a time from 1970 (no time zone needed: hours() are wall minutes).
  const years = new Map<number, { start: number; opens: Map<string, number>; end: number }>();
  function year(y: number): { start: number; opens: Map<string, number>; end: number } {
    const known = years.get(y);
    if (known) return known;
    let t = y <= 1970 ? 0 : year(y - 1).end;
    const start = t;
    const opens = new Map<string, number>();
    for (let d = Date.UTC(y, 0, 1); d < Date.UTC(y + 1, 0, 1); d += DAY_SECONDS * 1000) {
      const day = new Date(d).toISOString().slice(0, 10);
      const h = calendar.hours(day);
      if (!h) continue;
      t += overnight;
      opens.set(day, t);
      t += (h.close - h.open) * 60;
    }
    const out = { start, opens, end: t };
    years.set(y, out);
    return out;
  }
  const at = (s: Session, t: number) => (year(Number(s.day.slice(0, 4))).opens.get(s.day) as number) + Math.floor((t - s.open) / 1000);
  return {
    secondsPerYear: TRADING_DAYS_PER_YEAR * (REGULAR_SESSION_SECONDS + overnight), regularSessionSeconds: REGULAR_SESSION_SECONDS,
    at,
    atInstant(t) {
      const s = calendar.sessionAt(t) ?? calendar.previousSession(t);
      return at(s, Math.min(t, s.close));
    },
  };
}

// The intraday volume profile: a U (about 2.2× the session's mean rate at the open, 0.75× at midday, 2.6× into the
// close, where the closing auction trades), as a share of the session's volume between two fractions of it.
const OPEN_EXCESS = 2, CLOSE_EXCESS = 2.5, WIDTH = 0.08;
const TOTAL = 1 + (OPEN_EXCESS + CLOSE_EXCESS) * WIDTH * (1 - Math.exp(-1 / WIDTH));

/** Share of a session's volume traded between fractions u0 <= u1 of it (0 = open, 1 = close); flat on `24x7`. */
export function volumeShare(calendar: CalendarName, u0: number, u1: number): number {
  if (calendar === '24x7') return u1 - u0;
  const open = OPEN_EXCESS * WIDTH * (Math.exp(-u0 / WIDTH) - Math.exp(-u1 / WIDTH));
  const close = CLOSE_EXCESS * WIDTH * (Math.exp(-(1 - u1) / WIDTH) - Math.exp(-(1 - u0) / WIDTH));
  return (u1 - u0 + open + close) / TOTAL;
}
