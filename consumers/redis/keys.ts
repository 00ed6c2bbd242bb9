// The Redis key layout, defined once: `{kind}:{symbol}:…`. The sink writes these keys, rebuild clears and counts them,
// the demo reads them.
//   price:{symbol}:latest            hash: close, open, high, low, volume, ts (ISO), interval, source, vwap, trades ('' = unknown),
//                                    quality (a reader computes the confidence from it: topics/price-update.ts priceConfidence); TTL
//   price:{symbol}:watermark         `{event time}:{version}` of the bar written to latest (no TTL; `{event time}` alone when
//                                    unversioned), so an older bar, or an older revision of the same bar, never wins later
//   bars:{symbol}:{interval}         sorted set of bars (score = event time, member with its version `v`), capped
//   features:{symbol}:{interval}     hash of the latest bar's indicators (price-features): ts (ISO), interval, bars, close,
//                                    definition, computedAt (ISO), version, and each value of FEATURE_VALUES ('' = null:
//                                    not enough bars yet); TTL REDIS_FEATURES_TTL_MS from the write
//   features:{symbol}:{interval}:history  sorted set of the bars' indicators (score = event time, member with its version
//                                    `v`), capped; its newest member is what the hash shows, and so its watermark
import type { PriceFeatures, PriceUpdate } from '../../schemas/types.generated.ts';
import { FEATURE_VALUES } from '../../topics/price-features.ts';

export const redisKeys = {
  latest: (symbol: string) => `price:${symbol}:latest`,
  watermark: (symbol: string) => `price:${symbol}:watermark`,
  bars: (symbol: string, interval: string) => `bars:${symbol}:${interval}`,
  features: (symbol: string, interval: string) => `features:${symbol}:${interval}`,
  featuresHistory: (symbol: string, interval: string) => `features:${symbol}:${interval}:history`,
};

/** The key kinds (first segment) the sink writes. */
export const KEY_KINDS = ['price', 'bars', 'features'] as const;
export type KeyKind = (typeof KEY_KINDS)[number];

/** SCAN patterns of the sink's keys (of the given kinds, default all): every symbol's, or only those of `symbols`. */
export function redisPatterns(symbols?: readonly string[], kinds: readonly KeyKind[] = KEY_KINDS): string[] {
  if (!symbols) return kinds.map((k) => `${k}:*`);
  return symbols.flatMap((s) => kinds.map((k) => `${k}:${globEscape(s)}:*`));
}

/**
 * A bar as stored in bars:{symbol}:{interval}: deterministic JSON, so a replayed bar is the same member. `v` is the
 * version of the record that wrote it (absent when unversioned): a revision of the same bar time replaces it only when newer.
 */
export function barMember(b: PriceUpdate, version?: number): string {
  return JSON.stringify({ ts: b.eventTime, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume, source: b.source,
    ...(version === undefined ? {} : { v: version }) });
}

/**
 * The indicators of a bar as stored in features:{symbol}:{interval}:history: deterministic JSON (null for a value not
 * yet known), so a replayed record is the same member. `v` is the version of the record that wrote it (absent when
 * unversioned): a record of the same bar time replaces it unless it carries an older version.
 */
export function featuresMember(f: PriceFeatures, version?: number): string {
  const values: Record<string, number | null> = {};
  for (const k of FEATURE_VALUES) values[k] = f[k] ?? null;
  return JSON.stringify({ ts: f.eventTime, bars: f.bars, close: f.close, ...values, ...(version === undefined ? {} : { v: version }) });
}

/** The field/value pairs of features:{symbol}:{interval} written from `f` ('' for a null value and an unversioned record). */
export function featuresHashFields(f: PriceFeatures, version?: number): string[] {
  const out = ['ts', new Date(f.eventTime).toISOString(), 'interval', f.interval, 'bars', String(f.bars), 'close', String(f.close),
    'definition', f.definition, 'computedAt', new Date(f.computedAt).toISOString(), 'version', version === undefined ? '' : String(version)];
  for (const k of FEATURE_VALUES) out.push(k, f[k] == null ? '' : String(f[k]));
  return out;
}

/** The event time in a watermark (`{event time}:{version}`, or `{event time}` alone), NaN when there is none. */
export function watermarkTime(mark: string | null): number {
  return mark === null ? Number.NaN : Number(mark.split(':')[0]);
}

function globEscape(s: string): string {
  return s.replace(/[*?[\]\\]/g, '\\$&');
}
