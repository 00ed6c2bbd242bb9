// How fresh a bar is, by the exchange calendar (lib/calendar.ts): when it ended, how old it is, and how late its series
// is — how long ago the NEXT bar should have been complete. Lateness is what staleness means for market data: on a
// Saturday, Friday's last bar is two days old and not late at all (no bar is due until Monday's first one ends); at
// 11:00 on a Tuesday a 1m series whose newest bar is 10:50 is 9 minutes late. The group monitor uses it for
// marketstream_data_age_seconds and /ready (late beyond FRESHNESS_LIMITS while a session is open), `explain` for
// each bar's confidence (topics/price-update.ts priceConfidence).
import { intervalMs, priceConfidence, type PriceInterval } from '../topics/price-update.ts';
import type { ExchangeCalendar } from './calendar.ts';

const DAY_MS = 86_400_000;
const day = (t: number) => new Date(t).toISOString().slice(0, 10);

/** Seconds per interval a series may be late (FRESHNESS_LIMITS). */
export type FreshnessLimits = Readonly<Record<PriceInterval, number>>;

/** When the bar of `interval` with event time `eventTime` is complete: its start plus its length, cut at its session's close; a 1d bar at the close. */
export function barEnd(cal: ExchangeCalendar, interval: PriceInterval, eventTime: number): number {
  if (interval === 'tick') return eventTime;
  if (interval === '1d') return cal.session(day(eventTime))?.close ?? eventTime + DAY_MS;
  const s = cal.sessionAt(eventTime);
  return s ? Math.min(eventTime + intervalMs(interval), s.close) : eventTime + intervalMs(interval);
}

/** When the bar after the one at `eventTime` is complete: the next slot of its session, or the first of the next session. */
export function nextBarEnd(cal: ExchangeCalendar, interval: PriceInterval, eventTime: number): number {
  if (interval === '1d') {
    const next = cal.bars('1d', eventTime + 1, eventTime + 40 * DAY_MS)[0];
    return next ? next.end : eventTime + 2 * DAY_MS;
  }
  const step = interval === 'tick' ? 1000 : intervalMs(interval);
  const endOf = (start: number, close: number) => (interval === 'tick' ? start : Math.min(start + step, close));
  const s = cal.sessionAt(eventTime);
  if (s) {
    const start = s.open + (Math.floor((eventTime - s.open) / step) + 1) * step;
    if (start < s.close) return endOf(start, s.close);
  }
  const next = cal.nextSession(s ? s.close : eventTime + 1);
  return endOf(next.open, next.close);
}

/** How late the series is at `now` when its newest bar is at `eventTime`: now minus when the next bar was complete; 0 while none is due. */
export function lateness(cal: ExchangeCalendar, interval: PriceInterval, eventTime: number, now: number): number {
  return Math.max(0, now - nextBarEnd(cal, interval, eventTime));
}

export interface BarFreshness {
  /** When the bar was complete (ms). */
  endsAt: number;
  /** Now minus endsAt, seconds (0 for a bar not complete yet). */
  ageSeconds: number;
  /** How late its series is, seconds (see lateness). */
  lateSeconds: number;
  /** The interval's limit, seconds. */
  limitSeconds: number;
  /** Late beyond the limit. */
  late: boolean;
}

/** The freshness of a bar at `now`. */
export function freshnessOf(cal: ExchangeCalendar, bar: { interval: PriceInterval; eventTime: number }, now: number, limits: FreshnessLimits): BarFreshness {
  const endsAt = barEnd(cal, bar.interval, bar.eventTime);
  const lateMs = lateness(cal, bar.interval, bar.eventTime, now);
  const limitSeconds = limits[bar.interval];
  return { endsAt, ageSeconds: Math.max(0, now - endsAt) / 1000, lateSeconds: lateMs / 1000, limitSeconds, late: lateMs > limitSeconds * 1000 };
}

/** priceConfidence of a bar at `now`: its quality, halved with every FRESHNESS_LIMITS step it is late beyond the first. */
export function confidenceOf(cal: ExchangeCalendar, bar: { interval: PriceInterval; eventTime: number; quality: number }, now: number,
  limits: FreshnessLimits): number {
  return priceConfidence(bar.quality, lateness(cal, bar.interval, bar.eventTime, now), limits[bar.interval] * 1000);
}

/**
 * Whether bars of this source are live: backfilled history and file replays are never late (as validatePriceUpdate
 * never finds them stale), so a series whose newest bar came from one does not gate /ready.
 */
export function isLiveSource(source: string): boolean {
  return source !== 'backfill' && source !== 'file';
}

/** A duration as reasons and `explain` say it: 45 s, 8.5 min, 2.5 h, 3 d. */
export function formatDuration(seconds: number): string {
  const round = (v: number) => String(Math.round(v * 10) / 10);
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${round(seconds / 60)} min`;
  return seconds < 172_800 ? `${round(seconds / 3600)} h` : `${round(seconds / 86_400)} d`;
}
