// Gaps: the bars a series lacks against the exchange calendar (lib/calendar.ts). Pure: the calendar's bars of the
// interval whose event time lies in [since, until) and that have ended by `until`, minus the stored ones, as windows of
// missing bars consecutive in the calendar, so the night, a weekend or a holiday between two missing bars does not split
// a window (nothing is missing there), while one stored bar between two missing ones does.
import type { ExchangeCalendar } from '../../lib/calendar.ts';
import { intervalMs, type PriceInterval } from '../../topics/price-update.ts';

/** Intervals a gaps report covers: bars. A tick is a price at a moment, not a slot the calendar says must be filled. */
export const BAR_INTERVALS = ['1m', '5m', '1h', '1d'] as const satisfies readonly PriceInterval[];
export type BarInterval = (typeof BAR_INTERVALS)[number];

export interface GapWindow {
  /** Event times of the first and the last missing bar (the last one included). */
  first: number;
  last: number;
  /** Missing bars from first to last, all of them. */
  bars: number;
}

export interface GapCount {
  /** Bars the calendar has in the range (ended by `until`). */
  expected: number;
  /** Of those, stored. */
  stored: number;
  missing: number;
  /** Stored bars whose event time is no bar start of the calendar (another calendar's bars, a misaligned file). */
  offCalendar: number;
  windows: GapWindow[];
}

/**
 * The gaps of one series: `stored` holds the event times of its bars in [since, until) (any order); a bar counts as
 * expected once it has ended by `until` (a 1d bar at its session's close), so the bar in progress is never missing.
 */
export function findGaps(calendar: ExchangeCalendar, interval: BarInterval, stored: Iterable<number>, since: number, until: number): GapCount {
  const have = new Set(stored);
  const slots = calendar.bars(interval, since, until);
  const windows: GapWindow[] = [];
  let expected = 0, missing = 0, open: GapWindow | null = null;
  const starts = new Set<number>();
  for (const slot of slots) {
    starts.add(slot.eventTime);
    if (slot.end > until) continue;
    expected++;
    if (have.has(slot.eventTime)) { open = null; continue; }
    missing++;
    if (open) { open.last = slot.eventTime; open.bars++; } else windows.push(open = { first: slot.eventTime, last: slot.eventTime, bars: 1 });
  }
  let offCalendar = 0;
  for (const t of have) if (t >= since && t < until && !starts.has(t)) offCalendar++;
  return { expected, stored: expected - missing, missing, offCalendar, windows };
}

/**
 * The [from, to) of event times a source is asked for to fill a window: from its first missing bar to the start of
 * the bar after its last (a 1d bar's next UTC day), which holds the window's bars and no stored one.
 */
export function windowSpan(w: GapWindow, interval: BarInterval): { from: number; to: number } {
  return { from: w.first, to: w.last + intervalMs(interval) };
}
