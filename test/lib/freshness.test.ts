// Freshness by the exchange calendar: when a bar ends, when the next one of its series is due, and how late the series
// is — across a session, a weekend, a holiday and a half day, on the US calendar and around the clock — and a bar's
// confidence from its quality and lateness.
import { describe, expect, it } from 'vitest';
import { ROUND_THE_CLOCK, US_CALENDAR } from '../../lib/calendar.ts';
import { FRESHNESS_LIMIT_DEFAULTS } from '../../lib/config.ts';
import { barEnd, confidenceOf, formatDuration, freshnessOf, isLiveSource, lateness, nextBarEnd } from '../../lib/freshness.ts';

/** New York wall time → instant (EST before 2025-03-09, EDT from then until 2025-11-02). */
const ny = (iso: string) => {
  const month = Number(iso.slice(5, 7));
  const day = Number(iso.slice(8, 10));
  const edt = (month > 3 || (month === 3 && day >= 9)) && (month < 11 || (month === 11 && day < 2));
  return Date.parse(`${iso}${edt ? '-04:00' : '-05:00'}`);
};
const MIN = 60_000;
const cal = US_CALENDAR;
const limits = FRESHNESS_LIMIT_DEFAULTS;

describe('barEnd', () => {
  it('an intraday bar ends one interval after its start, cut at the close; a 1d bar at the close; a tick at its time', () => {
    expect(barEnd(cal, '1m', ny('2025-03-11T10:50:00'))).toBe(ny('2025-03-11T10:51:00'));
    expect(barEnd(cal, '1h', ny('2025-03-11T15:30:00'))).toBe(ny('2025-03-11T16:00:00'));
    expect(barEnd(cal, '1h', ny('2025-11-28T12:30:00'))).toBe(ny('2025-11-28T13:00:00')); // the day after Thanksgiving closes at 13:00
    expect(barEnd(cal, '1d', Date.UTC(2025, 2, 11))).toBe(ny('2025-03-11T16:00:00'));
    expect(barEnd(cal, 'tick', ny('2025-03-11T10:50:07'))).toBe(ny('2025-03-11T10:50:07'));
  });
});

describe('nextBarEnd and lateness', () => {
  it('in a session: the next slot of the session; a 1m series whose newest bar is 10:50 is 8 minutes late at 11:00', () => {
    expect(nextBarEnd(cal, '1m', ny('2025-03-11T10:50:00'))).toBe(ny('2025-03-11T10:52:00'));
    expect(lateness(cal, '1m', ny('2025-03-11T10:50:00'), ny('2025-03-11T11:00:00'))).toBe(8 * MIN);
    // The newest complete bar there can be is not late: 10:59 ended at 11:00, 11:00 ends at 11:01.
    expect(lateness(cal, '1m', ny('2025-03-11T10:59:00'), ny('2025-03-11T11:00:00'))).toBe(0);
    expect(nextBarEnd(cal, '5m', ny('2025-03-11T10:52:00'))).toBe(ny('2025-03-11T11:00:00')); // a bar off the grid: the next grid slot
    expect(nextBarEnd(cal, 'tick', ny('2025-03-11T10:50:07.250'))).toBe(ny('2025-03-11T10:50:08'));
  });

  it('over a weekend: Friday\'s last bar is not late until Monday\'s first bar ends', () => {
    const friday = ny('2025-03-14T15:59:00');
    expect(nextBarEnd(cal, '1m', friday)).toBe(ny('2025-03-17T09:31:00'));
    expect(lateness(cal, '1m', friday, ny('2025-03-15T12:00:00'))).toBe(0);
    expect(lateness(cal, '1m', friday, ny('2025-03-17T09:31:00'))).toBe(0);
    expect(lateness(cal, '1m', friday, ny('2025-03-17T09:40:00'))).toBe(9 * MIN);
    expect(nextBarEnd(cal, '1h', ny('2025-03-14T15:30:00'))).toBe(ny('2025-03-17T10:30:00'));
    expect(nextBarEnd(cal, '1d', Date.UTC(2025, 2, 14))).toBe(ny('2025-03-17T16:00:00'));
    expect(lateness(cal, '1d', Date.UTC(2025, 2, 14), ny('2025-03-17T15:00:00'))).toBe(0); // Monday's daily bar is not complete yet
  });

  it('a holiday and a half day: the next bar is the next session\'s', () => {
    expect(nextBarEnd(cal, '1m', ny('2025-07-02T15:59:00'))).toBe(ny('2025-07-03T09:31:00'));
    expect(nextBarEnd(cal, '1m', ny('2025-07-03T12:59:00'))).toBe(ny('2025-07-07T09:31:00')); // July 3 closes at 13:00, July 4 is a holiday
    expect(nextBarEnd(cal, '1d', Date.UTC(2025, 6, 2))).toBe(ny('2025-07-03T13:00:00'));
    expect(nextBarEnd(cal, '1d', Date.UTC(2025, 6, 3))).toBe(ny('2025-07-07T16:00:00'));
  });

  it('a bar outside any session (a 24x7 feed judged by the US calendar) is followed by the next session\'s first bar', () => {
    expect(nextBarEnd(cal, '1m', ny('2025-03-15T12:00:00'))).toBe(ny('2025-03-17T09:31:00'));
  });

  it('around the clock: Saturday is a day like the others', () => {
    const sat = Date.UTC(2025, 2, 15, 12, 0);
    expect(lateness(ROUND_THE_CLOCK, '1m', sat - 10 * MIN, sat)).toBe(8 * MIN);
    expect(nextBarEnd(ROUND_THE_CLOCK, '1m', Date.UTC(2025, 2, 15, 23, 59))).toBe(Date.UTC(2025, 2, 16, 0, 1));
  });
});

describe('freshnessOf and confidenceOf', () => {
  it('late beyond the interval\'s limit; the age counts from the bar\'s end', () => {
    const tuesday = ny('2025-03-11T11:00:00');
    expect(freshnessOf(cal, { interval: '1m', eventTime: ny('2025-03-11T10:50:00') }, tuesday, limits)).toEqual({
      endsAt: ny('2025-03-11T10:51:00'), ageSeconds: 540, lateSeconds: 480, limitSeconds: 300, late: true,
    });
    expect(freshnessOf(cal, { interval: '1m', eventTime: ny('2025-03-11T10:56:00') }, tuesday, limits)).toMatchObject({ lateSeconds: 120, late: false });
    // Saturday: Friday's last bar is 20 hours old and not late at all.
    expect(freshnessOf(cal, { interval: '1m', eventTime: ny('2025-03-14T15:59:00') }, ny('2025-03-15T12:00:00'), limits))
      .toMatchObject({ ageSeconds: 20 * 3600, lateSeconds: 0, late: false });
  });

  it('confidence: the quality while within the limit, halved with every limit beyond it', () => {
    const tuesday = ny('2025-03-11T11:00:00');
    const at = (hhmm: string, quality = 1) => confidenceOf(cal, { interval: '1m', eventTime: ny(`2025-03-11T${hhmm}:00`), quality }, tuesday, limits);
    expect(at('10:59')).toBe(1);
    expect(at('10:53')).toBe(1); // the 10:54 bar ended at 10:55: 5 minutes late, at the limit
    expect(at('10:48')).toBeCloseTo(0.5, 10); // 10 minutes late: one limit beyond
    expect(at('10:48', 0.5)).toBeCloseTo(0.25, 10);
    expect(at('10:53', 0.5)).toBe(0.5);
    expect(confidenceOf(cal, { interval: '1m', eventTime: ny('2025-03-14T15:59:00'), quality: 1 }, ny('2025-03-15T12:00:00'), limits)).toBe(1);
  });

  it('backfill and file replays are not live; every other source is', () => {
    expect(['backfill', 'file'].map(isLiveSource)).toEqual([false, false]);
    expect(['yahoo', 'synthetic'].map(isLiveSource)).toEqual([true, true]);
  });

  it('formats durations as the reasons say them', () => {
    expect([45, 119.6, 120, 510, 7200, 9000, 172_800 * 1.5].map(formatDuration)).toEqual(['45 s', '120 s', '2 min', '8.5 min', '2 h', '2.5 h', '3 d']);
  });
});
