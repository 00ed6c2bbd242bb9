// `backfill --gaps`: from a gaps report, the spans of event times to ask the source for per symbol, and only those: a
// window of missing bars becomes the span of its bars (./find.ts windowSpan), cut to what the source serves (Yahoo's
// 730 days of hourly and 30 days of 1m bars); what lies beyond is counted, not asked for.
import type { ExchangeCalendar } from '../../lib/calendar.ts';
import { historyReach, type BackfillInterval, type HistorySourceName } from '../backfill-range.ts';
import { windowSpan } from './find.ts';
import type { SeriesGaps } from './store.ts';

export interface GapFill {
  /** Per symbol with something to fetch: its spans, in time order. */
  spans: Map<string, Array<{ from: number; to: number }>>;
  windows: number;
  /** Missing bars inside the spans. */
  missing: number;
  /** Missing bars older than the source serves, left out, and why. */
  unreachable: { bars: number; why: string } | null;
}

export function planGapFill(series: readonly SeriesGaps[],
  o: { calendar: ExchangeCalendar; interval: BackfillInterval; source: HistorySourceName; now: number }): GapFill {
  const reach = historyReach(o.interval, o.source, o.now);
  const plan: GapFill = { spans: new Map(), windows: 0, missing: 0, unreachable: null };
  let beyond = 0;
  for (const s of series) {
    if (s.interval !== o.interval) continue;
    for (const w of s.windows) {
      const span = windowSpan(w, o.interval);
      if (reach && span.from < reach.from) {
        // A window is consecutive calendar bars, all missing: those before the reach are the calendar's there.
        const out = Math.min(w.bars, o.calendar.bars(o.interval, w.first, reach.from).length);
        beyond += out;
        if (out === w.bars) continue;
        span.from = reach.from;
        plan.missing += w.bars - out;
      } else plan.missing += w.bars;
      plan.windows++;
      (plan.spans.get(s.symbol) ?? plan.spans.set(s.symbol, []).get(s.symbol)!).push(span);
    }
  }
  if (beyond > 0 && reach) plan.unreachable = { bars: beyond, why: reach.why };
  return plan;
}
