// The exchange calendar (lib/calendar.ts) against what NYSE published: the holidays and 1:00 p.m. early closes of its
// press releases "NYSE Group Announces 2022, 2023 and 2024 / 2025, 2026 and 2027 / 2026, 2027 and 2028 Holiday and Early
// Closings Calendar", written out here as the reference; the special closures of recent years; sessions in UTC across
// daylight saving time; and where bars of each interval fall, for the gaps report and the synthetic source.
import { describe, expect, it } from 'vitest';
import { ROUND_THE_CLOCK, US_CALENDAR as cal, usEarlyCloses, usHolidays } from '../../lib/calendar.ts';

const MIN = 60_000, HOUR = 60 * MIN, DAY = 24 * HOUR;

/** NYSE's published holidays (the observed dates) and early closes, by year. */
const PUBLISHED: Record<number, { holidays: string[]; early: string[] }> = {
  2022: { // New Year's Day 2022 fell on a Saturday: no holiday observed (NYSE Rule 7.2)
    holidays: ['2022-01-17', '2022-02-21', '2022-04-15', '2022-05-30', '2022-06-20', '2022-07-04', '2022-09-05', '2022-11-24', '2022-12-26'],
    early: ['2022-11-25'],
  },
  2023: {
    holidays: ['2023-01-02', '2023-01-16', '2023-02-20', '2023-04-07', '2023-05-29', '2023-06-19', '2023-07-04', '2023-09-04', '2023-11-23', '2023-12-25'],
    early: ['2023-07-03', '2023-11-24'],
  },
  2024: {
    holidays: ['2024-01-01', '2024-01-15', '2024-02-19', '2024-03-29', '2024-05-27', '2024-06-19', '2024-07-04', '2024-09-02', '2024-11-28', '2024-12-25'],
    early: ['2024-07-03', '2024-11-29', '2024-12-24'],
  },
  2025: { // plus the National Day of Mourning for President Carter, 2025-01-09
    holidays: ['2025-01-01', '2025-01-09', '2025-01-20', '2025-02-17', '2025-04-18', '2025-05-26', '2025-06-19', '2025-07-04', '2025-09-01', '2025-11-27',
      '2025-12-25'],
    early: ['2025-07-03', '2025-11-28', '2025-12-24'],
  },
  2026: { // Independence Day observed Friday July 3
    holidays: ['2026-01-01', '2026-01-19', '2026-02-16', '2026-04-03', '2026-05-25', '2026-06-19', '2026-07-03', '2026-09-07', '2026-11-26', '2026-12-25'],
    early: ['2026-11-27', '2026-12-24'],
  },
  2027: { // Juneteenth observed Friday June 18, Independence Day Monday July 5, Christmas Friday December 24
    holidays: ['2027-01-01', '2027-01-18', '2027-02-15', '2027-03-26', '2027-05-31', '2027-06-18', '2027-07-05', '2027-09-06', '2027-11-25', '2027-12-24'],
    early: ['2027-11-26'],
  },
  2028: { // New Year's Day 2028 falls on a Saturday: no holiday observed
    holidays: ['2028-01-17', '2028-02-21', '2028-04-14', '2028-05-29', '2028-06-19', '2028-07-04', '2028-09-04', '2028-11-23', '2028-12-25'],
    early: ['2028-07-03', '2028-11-24'],
  },
};

const utc = (iso: string) => Date.parse(iso);
const days = (from: string, to: string) => {
  const out: string[] = [];
  for (let t = utc(`${from}T00:00:00Z`); t <= utc(`${to}T00:00:00Z`); t += DAY) out.push(new Date(t).toISOString().slice(0, 10));
  return out;
};

describe('US exchange calendar', () => {
  it.each(Object.keys(PUBLISHED).map(Number))('%i: the holidays and early closes NYSE published, and nothing else', (year) => {
    const { holidays, early } = PUBLISHED[year]!;
    expect([...usHolidays(year).keys()]).toEqual(holidays);
    expect([...usEarlyCloses(year).keys()].filter((d) => !holidays.includes(d))).toEqual(early);
    // Every weekday of the year trades except the holidays; the early closes at 13:00 New York.
    const weekdays = days(`${year}-01-01`, `${year}-12-31`).filter((d) => ![0, 6].includes(new Date(`${d}T00:00:00Z`).getUTCDay()));
    expect(weekdays.filter((d) => !cal.isTradingDay(d))).toEqual(holidays);
    for (const d of early) expect(cal.hours(d)).toEqual({ open: 570, close: 780, early: true });
    const full = weekdays.filter((d) => cal.isTradingDay(d) && !early.includes(d));
    expect(full.every((d) => cal.hours(d)?.close === 960 && cal.hours(d)?.early === false)).toBe(true);
  });

  it('knows the special closures of recent years and the holidays that came later (MLK Day 1998, Juneteenth 2022)', () => {
    for (const d of ['2001-09-11', '2001-09-14', '2004-06-11', '2007-01-02', '2012-10-29', '2012-10-30', '2018-12-05', '2025-01-09']) {
      expect(cal.isTradingDay(d), d).toBe(false);
    }
    expect(cal.isTradingDay('1997-01-20')).toBe(true); // third Monday of January before MLK Day was a market holiday
    expect(cal.isTradingDay('1998-01-19')).toBe(false);
    expect(cal.isTradingDay('2021-06-18')).toBe(true); // Juneteenth 2021 (Saturday) was not yet observed
    expect(cal.isTradingDay('2021-12-31')).toBe(true); // New Year's Day 2022 on a Saturday: not moved to Friday
    expect(cal.isTradingDay('2026-01-10')).toBe(false); // a Saturday
  });

  it('gives sessions as instants: 14:30–21:00 UTC in winter, 13:30–20:00 in summer, a half day to 18:00 UTC', () => {
    expect(cal.session('2026-01-12')).toEqual({ day: '2026-01-12', open: utc('2026-01-12T14:30:00Z'), close: utc('2026-01-12T21:00:00Z'), early: false });
    expect(cal.session('2026-03-09')).toMatchObject({ open: utc('2026-03-09T13:30:00Z'), close: utc('2026-03-09T20:00:00Z') }); // day after DST began
    expect(cal.session('2026-11-02')).toMatchObject({ open: utc('2026-11-02T14:30:00Z') }); // day after DST ended
    expect(cal.session('2026-11-27')).toMatchObject({ close: utc('2026-11-27T18:00:00Z'), early: true });
    expect(cal.session('2026-12-25')).toBeNull();
    expect(cal.dateOf(utc('2026-01-13T03:00:00Z'))).toBe('2026-01-12'); // 22:00 New York the evening before
  });

  it('finds sessions around an instant and between two instants', () => {
    const friday = cal.session('2026-01-16')!, tuesday = cal.session('2026-01-20')!; // Monday 19 is MLK Day
    expect(cal.sessionAt(friday.open)).toEqual(friday);
    expect(cal.sessionAt(friday.close)).toBeNull();
    expect(cal.sessionAt(utc('2026-01-17T15:00:00Z'))).toBeNull();
    expect(cal.nextSession(friday.close)).toEqual(tuesday);
    expect(cal.previousSession(tuesday.open)).toEqual(friday);
    expect(cal.previousSession(friday.close)).toEqual(friday);
    expect(cal.sessionsBetween(utc('2026-01-16T20:00:00Z'), utc('2026-01-21T00:00:00Z')).map((s) => s.day)).toEqual(['2026-01-16', '2026-01-20']);
    expect(cal.sessionsBetween(friday.close, tuesday.open)).toEqual([]);
    expect(cal.sessionsBetween(utc('2025-01-01T00:00:00Z'), utc('2026-01-01T00:00:00Z'))).toHaveLength(250);
    expect(cal.sessionsBetween(utc('2026-01-01T00:00:00Z'), utc('2027-01-01T00:00:00Z'))).toHaveLength(251);
  });

  it('places bars inside sessions: minutes and hours from the open, the last hour cut at the close, one 1d bar per session', () => {
    const monday = cal.session('2026-01-12')!;
    const whole = (interval: '1m' | '5m' | '1h' | '1d' | 'tick') => cal.bars(interval, utc('2026-01-12T00:00:00Z'), utc('2026-01-13T00:00:00Z'));
    expect(whole('1m')).toHaveLength(390);
    expect(whole('5m')).toHaveLength(78);
    expect(whole('tick')).toHaveLength(390 * 60);
    const hours = whole('1h');
    expect(hours.map((b) => new Date(b.eventTime).toISOString().slice(11, 16))).toEqual(['14:30', '15:30', '16:30', '17:30', '18:30', '19:30', '20:30']);
    expect(hours.at(-1)).toMatchObject({ start: utc('2026-01-12T20:30:00Z'), end: monday.close }); // 15:30–16:00 New York
    expect(whole('1d')).toEqual([{ eventTime: utc('2026-01-12T00:00:00Z'), start: monday.open, end: monday.close, session: monday }]);
    const half = cal.bars('1h', utc('2026-11-27T00:00:00Z'), utc('2026-11-28T00:00:00Z'));
    expect(half.map((b) => [new Date(b.start).toISOString().slice(11, 16), (b.end - b.start) / MIN])).toEqual([
      ['14:30', 60], ['15:30', 60], ['16:30', 60], ['17:30', 30]]); // 09:30–13:00 New York
    // Bars whose event time lies in the range: a range starting mid-bar begins at the next bar.
    expect(cal.bars('1m', monday.open + 30_000, monday.open + 3 * MIN).map((b) => b.eventTime)).toEqual([monday.open + MIN, monday.open + 2 * MIN]);
    expect(cal.bars('1d', utc('2026-01-16T00:00:00Z'), utc('2026-01-21T00:00:00Z')).map((b) => b.session.day)).toEqual(['2026-01-16', '2026-01-20']);
  });

  it('gives the last complete bars at an instant, across closed days', () => {
    const tuesday = cal.session('2026-01-20')!;
    const last = cal.lastBars('1m', tuesday.open + 2 * MIN + 5_000, 4);
    expect(last.map((b) => new Date(b.eventTime).toISOString())).toEqual([
      '2026-01-16T20:58:00.000Z', '2026-01-16T20:59:00.000Z', '2026-01-20T14:30:00.000Z', '2026-01-20T14:31:00.000Z']);
    expect(cal.lastBars('1h', utc('2026-01-17T12:00:00Z'), 1)[0]).toMatchObject({ start: utc('2026-01-16T20:30:00Z'), end: utc('2026-01-16T21:00:00Z') });
    expect(cal.lastBars('1d', tuesday.open, 2).map((b) => b.session.day)).toEqual(['2026-01-15', '2026-01-16']);
    expect(cal.lastBars('tick', tuesday.open, 1)[0]?.eventTime).toBe(tuesday.open);
  });

  it('24x7: every UTC day one session, hourly bars on the clock hour', () => {
    const saturday = utc('2026-01-10T00:00:00Z');
    expect(ROUND_THE_CLOCK.session('2026-01-10')).toEqual({ day: '2026-01-10', open: saturday, close: saturday + DAY, early: false });
    expect(ROUND_THE_CLOCK.bars('1h', saturday, saturday + DAY)).toHaveLength(24);
    expect(ROUND_THE_CLOCK.bars('1m', saturday + 90_000, saturday + 4 * MIN).map((b) => b.eventTime)).toEqual([saturday + 2 * MIN, saturday + 3 * MIN]);
    expect(ROUND_THE_CLOCK.sessionAt(saturday + 3 * HOUR)?.day).toBe('2026-01-10');
  });
});
