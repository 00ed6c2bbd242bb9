// The price-updates contract beyond what Avro checks: bar intervals and their lengths, and the rules a price record
// must satisfy to be published or stored. Pure: the producers and the consumers share it.
import { PriceSources, type PriceSource, type PriceUpdate } from '../schemas/types.generated.ts';
import { MIN_TIMESTAMP_MS, SYMBOL_PATTERN } from './rules.ts';

export const DEFAULT_MAX_FUTURE_MS = 5 * 60_000;

// Bar intervals and their lengths: one place, so validation, sources and staleness agree.
export const PRICE_INTERVALS = ['tick', '1m', '5m', '1h', '1d'] as const;
export type PriceInterval = (typeof PRICE_INTERVALS)[number];

const MS: Record<PriceInterval, number> = { tick: 0, '1m': 60_000, '5m': 300_000, '1h': 3_600_000, '1d': 86_400_000 };

/**
 * The sources a price producer reads from, by name: a record's `source` is one of them, or `backfill` (`unknown` is only
 * what a reader of an older contract version makes of a source added after it).
 */
export const PRICE_FEEDS = ['synthetic', 'yahoo', 'alphavantage', 'twelvedata', 'file'] as const satisfies readonly PriceSource[];
export type PriceFeedName = (typeof PRICE_FEEDS)[number];

/** The sources whose bars are live (a bar that ended long ago is stale), unlike backfill and file replays. */
export const LIVE_PRICE_SOURCES: readonly PriceSource[] = ['yahoo', 'alphavantage', 'twelvedata', 'synthetic'];

/** The sources with history for `backfill` (daily and hourly bars). */
export const HISTORY_FEEDS = ['synthetic', 'yahoo', 'file'] as const satisfies readonly PriceFeedName[];

/**
 * A record's `quality` as the sources set it (schemas/README.md): `complete` when every field is what the source
 * reported (a reported volume of 0, a bar without trades, is complete), `filled` when the source left a field out and
 * it was filled in (a missing volume as 0; a tick's missing open, high or low from its price). priceConfidence reads it.
 */
export const QUALITY = { complete: 1, filled: 0.5 } as const;

/**
 * How far to trust a price record as its series' current price, 0..1: its quality times its freshness. Stale data is
 * marked, not dropped: nothing is refused or deleted for its age; readers compute this when they read (it falls with
 * the record's age, so a value frozen at write time would be wrong a minute later; `explain SYMBOL` shows it).
 *
 * Freshness is 1 while the record is not late by more than `limitMs`, then halves with every further `limitMs`.
 * `lateMs` is how long ago the NEXT bar of the series should have been complete, by the exchange calendar (0 while none
 * is due yet: Friday's last bar is not late on Saturday, nor is the newest tick of a closed market): lib/freshness.ts
 * lateness computes it; `limitMs` is the interval's FRESHNESS_LIMITS. Quality outside 0..1 is clamped (a record that
 * passed validatePriceUpdate is within it).
 *
 *   quality 1,   lateMs ≤ limit      → 1
 *   quality 1,   lateMs = 2 × limit  → 0.5
 *   quality 0.5, lateMs = 3 × limit  → 0.125
 */
export function priceConfidence(quality: number, lateMs: number, limitMs: number): number {
  const q = Number.isFinite(quality) ? Math.min(1, Math.max(0, quality)) : 0;
  const beyond = Math.max(0, lateMs - limitMs);
  return limitMs > 0 ? q * 2 ** (-beyond / limitMs) : beyond > 0 ? 0 : q;
}

export function isPriceInterval(v: string): v is PriceInterval {
  return (PRICE_INTERVALS as readonly string[]).includes(v);
}

/** Length of a bar in ms; 0 for `tick` (a point in time). */
export function intervalMs(interval: PriceInterval): number {
  return MS[interval];
}

export interface ValidateOptions {
  /**
   * Reject bars of live sources (LIVE_PRICE_SOURCES) that ended more than one interval plus this long before `now`.
   * Off when undefined: consumers must leave it off, or a replay of the log would reject everything.
   * Backfill and file replays are never stale.
   */
  maxStalenessMs?: number;
  /** How far in the future an event time may be (clock skew). Default 5 min. */
  maxFutureMs?: number;
}

/** null when `p` is valid, otherwise the reason (the first rule it breaks). */
export function validatePriceUpdate(p: PriceUpdate, now: number, opts: ValidateOptions = {}): string | null {
  if (typeof p.symbol !== 'string' || !SYMBOL_PATTERN.test(p.symbol)) {
    return `symbol ${JSON.stringify(p.symbol)} is not a ticker (A-Z, 0-9, . ^ = -, 1-15 chars)`;
  }
  if (typeof p.interval !== 'string' || !isPriceInterval(p.interval)) return `interval ${JSON.stringify(p.interval)} is not one of tick, 1m, 5m, 1h, 1d`;
  if (!(PriceSources as readonly string[]).includes(p.source)) return `source ${JSON.stringify(p.source)} is not one of ${PriceSources.join(', ')}`;
  for (const field of ['open', 'high', 'low', 'close', 'volume', 'eventTime', 'ingestTime', 'quality'] as const) {
    const v = p[field];
    if (typeof v !== 'number' || !Number.isFinite(v)) return `${field} is not a finite number (${String(v)})`;
  }
  if (p.low <= 0) return `low ${p.low} is not positive`;
  // A bar's open and close lie within its high..low; a tick's (interval tick) open/high/low are the session's to date,
  // which hold its price too: a source whose day range lags the last price widens it (schemas/README.md, "Bars and ticks").
  if (p.high < Math.max(p.open, p.close)) return `high ${p.high} is below max(open ${p.open}, close ${p.close})`;
  if (p.low > Math.min(p.open, p.close)) return `low ${p.low} is above min(open ${p.open}, close ${p.close})`;
  if (p.volume < 0) return `volume ${p.volume} is negative`;
  if (p.quality < 0 || p.quality > 1) return `quality ${p.quality} is outside 0..1`;
  // Optional since version 2: absent (undefined, or null after decoding) when the source does not know them.
  if (p.vwap != null && !(Number.isFinite(p.vwap) && p.vwap >= p.low && p.vwap <= p.high)) return `vwap ${p.vwap} is outside low ${p.low}..high ${p.high}`;
  if (p.trades != null && !(Number.isSafeInteger(p.trades) && p.trades >= 0)) return `trades ${p.trades} is not a whole number >= 0`;
  if (p.eventTime < MIN_TIMESTAMP_MS) return `eventTime ${p.eventTime} is before 1970-01-02`;
  if (p.ingestTime < MIN_TIMESTAMP_MS) return `ingestTime ${p.ingestTime} is before 1970-01-02`;
  const maxFuture = opts.maxFutureMs ?? DEFAULT_MAX_FUTURE_MS;
  if (p.eventTime > now + maxFuture) return `eventTime ${new Date(p.eventTime).toISOString()} is more than ${Math.round(maxFuture / 1000)} s in the future`;
  if (opts.maxStalenessMs !== undefined && LIVE_PRICE_SOURCES.includes(p.source)) {
    // The freshest complete bar may have ended up to one interval ago; staleness is lateness beyond that.
    const length = intervalMs(p.interval);
    const age = now - (p.eventTime + length);
    const limit = length + opts.maxStalenessMs;
    if (age > limit) return `stale: bar ended ${Math.round(age / 1000)} s ago (limit ${Math.round(limit / 1000)} s)`;
  }
  return null;
}
