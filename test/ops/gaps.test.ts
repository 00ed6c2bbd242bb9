// The gap computation (ops/gaps/find.ts) against the US calendar: a holiday, a weekend and the night are no gap and do
// not split a window; a half day expects only its shortened session's bars; across the change to daylight saving time
// the bars move by an hour in UTC; a bar still in progress is not missing. And `backfill --gaps`'s plan: the spans it asks
// for, cut to what the source serves.
import { describe, expect, it } from 'vitest';
import { ROUND_THE_CLOCK, US_CALENDAR as cal } from '../../lib/calendar.ts';
import { planGapFill } from '../../ops/gaps/fill.ts';
import { findGaps, windowSpan } from '../../ops/gaps/find.ts';
import type { SeriesGaps } from '../../ops/gaps/store.ts';
import { isoDateOrTime } from '../../cli/options.ts';

const MIN = 60_000, HOUR = 60 * MIN, DAY = 24 * HOUR;
const at = (s: string) => Date.parse(s);
const day = (d: string) => at(`${d}T00:00:00Z`);
const days = (...ds: string[]) => ds.map(day);

// Thanksgiving week 2026: Thursday 11-26 closed, Friday 11-27 a half day (09:30–13:00 ET = 14:30–18:00 UTC).
const WEEK = ['2026-11-23', '2026-11-24', '2026-11-25', '2026-11-27', '2026-11-30', '2026-12-01'];
const SINCE = day('2026-11-23'), UNTIL = day('2026-12-02');

describe('gaps of daily bars', () => {
  it('a week with every session stored has none: the holiday and the weekend are expected empty', () => {
    expect(findGaps(cal, '1d', days(...WEEK), SINCE, UNTIL)).toEqual({ expected: 6, stored: 6, missing: 0, offCalendar: 0, windows: [] });
  });

  it('one removed bar is one window of one bar', () => {
    const g = findGaps(cal, '1d', days(...WEEK.filter((d) => d !== '2026-11-24')), SINCE, UNTIL);
    expect(g).toMatchObject({ expected: 6, stored: 5, missing: 1 });
    expect(g.windows).toEqual([{ first: day('2026-11-24'), last: day('2026-11-24'), bars: 1 }]);
  });

  it('missing bars on either side of a holiday or a weekend are one window; a stored bar between two splits them', () => {
    // 11-25 and 11-27 around Thanksgiving; 11-27 and 11-30 around the weekend: all consecutive sessions.
    expect(findGaps(cal, '1d', days('2026-11-23', '2026-11-24', '2026-12-01'), SINCE, UNTIL).windows)
      .toEqual([{ first: day('2026-11-25'), last: day('2026-11-30'), bars: 3 }]);
    expect(findGaps(cal, '1d', days('2026-11-23', '2026-11-25', '2026-11-30'), SINCE, UNTIL).windows).toEqual([
      { first: day('2026-11-24'), last: day('2026-11-24'), bars: 1 },
      { first: day('2026-11-27'), last: day('2026-11-27'), bars: 1 },
      { first: day('2026-12-01'), last: day('2026-12-01'), bars: 1 },
    ]);
  });

  it("a session's 1d bar is expected once the session closed (a half day at 13:00 ET), not before", () => {
    const stored = days('2026-11-23', '2026-11-24', '2026-11-25');
    expect(findGaps(cal, '1d', stored, SINCE, at('2026-11-27T17:59:00Z'))).toMatchObject({ expected: 3, missing: 0 });
    expect(findGaps(cal, '1d', stored, SINCE, at('2026-11-27T18:00:00Z')).windows).toEqual([{ first: day('2026-11-27'), last: day('2026-11-27'), bars: 1 }]);
  });

  it('counts stored bars that fall on no session (a Saturday bar of a 24x7 series), and finds none missing on 24x7 for a full week', () => {
    const withSaturday = [...days(...WEEK), day('2026-11-28')];
    expect(findGaps(cal, '1d', withSaturday, SINCE, UNTIL)).toMatchObject({ missing: 0, offCalendar: 1 });
    const everyDay = Array.from({ length: 9 }, (_, i) => SINCE + i * DAY);
    expect(findGaps(ROUND_THE_CLOCK, '1d', everyDay, SINCE, UNTIL)).toMatchObject({ expected: 9, missing: 0, offCalendar: 0 });
    expect(findGaps(ROUND_THE_CLOCK, '1d', days(...WEEK), SINCE, UNTIL)).toMatchObject({ missing: 3 }); // the holiday and the weekend
  });
});

describe('gaps of intraday bars', () => {
  it('a half day expects its four hourly bars (the last one cut at 13:00) and 210 1m bars; a bar after the early close is off the calendar', () => {
    const from = day('2026-11-27'), to = day('2026-11-28');
    const hourly = ['14:30', '15:30', '16:30', '17:30'].map((t) => at(`2026-11-27T${t}:00Z`));
    expect(findGaps(cal, '1h', hourly, from, to)).toEqual({ expected: 4, stored: 4, missing: 0, offCalendar: 0, windows: [] });
    expect(findGaps(cal, '1h', [...hourly, at('2026-11-27T18:30:00Z')], from, to).offCalendar).toBe(1);
    const minutes = Array.from({ length: 210 }, (_, i) => at('2026-11-27T14:30:00Z') + i * MIN);
    expect(findGaps(cal, '1m', minutes, from, to)).toMatchObject({ expected: 210, missing: 0 });
    expect(findGaps(cal, '1m', minutes.slice(0, -1), from, to).windows)
      .toEqual([{ first: at('2026-11-27T17:59:00Z'), last: at('2026-11-27T17:59:00Z'), bars: 1 }]);
  });

  it('across the change to daylight saving time (2026-03-08) the session moves an hour earlier in UTC', () => {
    const from = day('2026-03-06'), to = day('2026-03-10');
    const friday = Array.from({ length: 7 }, (_, i) => at('2026-03-06T14:30:00Z') + i * HOUR); // 09:30–16:00 EST
    const monday = Array.from({ length: 7 }, (_, i) => at('2026-03-09T13:30:00Z') + i * HOUR); // 09:30–16:00 EDT
    expect(findGaps(cal, '1h', [...friday, ...monday], from, to)).toMatchObject({ expected: 14, missing: 0, offCalendar: 0 });
    // Monday's bars stamped at winter times: 14:30–19:30 still fall on bar starts, 20:30 on none, and 13:30 is missing.
    const winterMonday = monday.map((t) => t + HOUR);
    const g = findGaps(cal, '1h', [...friday, ...winterMonday], from, to);
    expect(g).toMatchObject({ missing: 1, offCalendar: 1 });
    expect(g.windows).toEqual([{ first: at('2026-03-09T13:30:00Z'), last: at('2026-03-09T13:30:00Z'), bars: 1 }]);
  });

  it("the night between two sessions does not split a window: Monday's 15:30 and Tuesday's 09:30 ET bars missing are one", () => {
    const from = day('2026-11-30'), to = day('2026-12-02');
    const all = cal.bars('1h', from, to).map((b) => b.eventTime);
    const gone = new Set([at('2026-11-30T20:30:00Z'), at('2026-12-01T14:30:00Z')]);
    expect(findGaps(cal, '1h', all.filter((t) => !gone.has(t)), from, to).windows)
      .toEqual([{ first: at('2026-11-30T20:30:00Z'), last: at('2026-12-01T14:30:00Z'), bars: 2 }]);
  });

  it('a bar still in progress is not missing', () => {
    const from = day('2026-11-24');
    expect(findGaps(cal, '1h', [], from, at('2026-11-24T15:29:59Z'))).toMatchObject({ expected: 0, missing: 0 });
    expect(findGaps(cal, '1h', [], from, at('2026-11-24T15:30:00Z'))).toMatchObject({ expected: 1, missing: 1 });
  });
});

describe('what backfill --gaps asks for', () => {
  const series = (interval: SeriesGaps['interval'], windows: SeriesGaps['windows']): SeriesGaps => ({
    symbol: 'XYZ', interval, since: 0, until: 0, expected: 0, stored: 0, offCalendar: 0, missing: windows.reduce((n, w) => n + w.bars, 0), windows,
  });

  it('the span of a window holds its bars and none after: a daily window to the next UTC day, an hourly one to the next hour', () => {
    expect(windowSpan({ first: day('2026-11-25'), last: day('2026-11-30'), bars: 3 }, '1d')).toEqual({ from: day('2026-11-25'), to: day('2026-12-01') });
    expect(windowSpan({ first: at('2026-11-30T20:30:00Z'), last: at('2026-12-01T14:30:00Z'), bars: 2 }, '1h'))
      .toEqual({ from: at('2026-11-30T20:30:00Z'), to: at('2026-12-01T15:30:00Z') });
  });

  it('one span per window, per symbol, and nothing older than the source serves (1m: 29 days), counted exactly', () => {
    const now = at('2026-12-08T12:00:00Z');
    const old = { first: at('2026-10-01T13:30:00Z'), last: at('2026-10-01T13:39:00Z'), bars: 10 }; // 68 days back
    // A window from the close of 2026-11-06 into 2026-11-10's open: the reach (29 days back, 11-09 12:00 UTC) cuts it.
    const straddling = { first: at('2026-11-06T20:50:00Z'), last: at('2026-11-09T14:39:00Z'), bars: 20 };
    const recent = { first: at('2026-12-07T15:00:00Z'), last: at('2026-12-07T15:04:00Z'), bars: 5 };
    const plan = planGapFill([series('1m', [old, straddling, recent]), series('1h', [recent])], { calendar: cal, interval: '1m', source: 'yahoo', now });
    expect(plan.unreachable).toEqual({ bars: 20, why: '1m history is limited to the last 29 days' });
    expect(plan).toMatchObject({ windows: 2, missing: 15 });
    expect(plan.spans.get('XYZ')).toEqual([
      { from: now - 29 * DAY, to: at('2026-11-09T14:40:00Z') },
      { from: recent.first, to: at('2026-12-07T15:05:00Z') },
    ]);
    // A file serves what it holds: nothing is cut.
    expect(planGapFill([series('1m', [old])], { calendar: cal, interval: '1m', source: 'file', now }))
      .toMatchObject({ windows: 1, missing: 10, unreachable: null });
  });
});

describe('--since', () => {
  it('takes a date (00:00 UTC) or a time with its zone, and refuses a time without one', () => {
    expect(isoDateOrTime('2026-03-02')).toBe(Date.UTC(2026, 2, 2));
    expect(isoDateOrTime('2026-03-02T14:30:00Z')).toBe(Date.UTC(2026, 2, 2, 14, 30));
    expect(isoDateOrTime('2026-03-02T09:30-05:00')).toBe(Date.UTC(2026, 2, 2, 14, 30));
    expect(() => isoDateOrTime('2026-03-02T14:30:00')).toThrow(/with its zone/);
    expect(() => isoDateOrTime('yesterday')).toThrow(/ISO 8601 date/);
  });
});
