// The Redis key layout, defined once: `{kind}:{symbol}:…`. The sink writes these keys, rebuild clears and counts them,
// the demo reads them.
//   price:{symbol}:latest            hash: close, open, high, low, volume, ts (ISO), interval, source, vwap, trades ('' = unknown); TTL
//   price:{symbol}:watermark         `{event time}:{version}` of the bar written to latest (no TTL; `{event time}` alone when
//                                    unversioned), so an older bar, or an older revision of the same bar, never wins later
//   bars:{symbol}:{interval}         sorted set of bars (score = event time, member with its version `v`), capped
import type { PriceUpdate } from '../../schemas/types.generated.ts';

export const redisKeys = {
  latest: (symbol: string) => `price:${symbol}:latest`,
  watermark: (symbol: string) => `price:${symbol}:watermark`,
  bars: (symbol: string, interval: string) => `bars:${symbol}:${interval}`,
};

/** The key kinds (first segment) the sink writes. */
export const KEY_KINDS = ['price', 'bars'] as const;

/** SCAN patterns of the sink's keys: every symbol's, or only those of `symbols`. */
export function redisPatterns(symbols?: readonly string[]): string[] {
  if (!symbols) return KEY_KINDS.map((k) => `${k}:*`);
  return symbols.flatMap((s) => KEY_KINDS.map((k) => `${k}:${globEscape(s)}:*`));
}

/**
 * A bar as stored in bars:{symbol}:{interval}: deterministic JSON, so a replayed bar is the same member. `v` is the
 * version of the record that wrote it (absent when unversioned): a revision of the same bar time replaces it only when newer.
 */
export function barMember(b: PriceUpdate, version?: number): string {
  return JSON.stringify({ ts: b.eventTime, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume, source: b.source,
    ...(version === undefined ? {} : { v: version }) });
}

/** The event time in a watermark (`{event time}:{version}`, or `{event time}` alone), NaN when there is none. */
export function watermarkTime(mark: string | null): number {
  return mark === null ? Number.NaN : Number(mark.split(':')[0]);
}

function globEscape(s: string): string {
  return s.replace(/[*?[\]\\]/g, '\\$&');
}
