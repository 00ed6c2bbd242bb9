// The market-events contract beyond what Avro checks: the rules a market event must satisfy to be published or stored.
// Pure: the events producer and the consumers share it.
import type { MarketEvent } from '../schemas/types.generated.ts';
import { EVENT_ID_PATTERN } from './graph-model.ts';
import { MIN_TIMESTAMP_MS, SYMBOL_PATTERN } from './rules.ts';

/** The sources an events producer reads from, by name. */
export const EVENT_FEEDS = ['file', 'yahoo'] as const;
export type EventFeedName = (typeof EVENT_FEEDS)[number];

/** Longest headline kept by sources (longer ones are cut); the validator rejects anything longer still. */
export const MAX_HEADLINE = 1000;
export const MAX_SUMMARY = 10_000;
export const MAX_SYMBOLS = 50;
/** How far in the future a published time may be (clock skew between the source and us). */
export const MAX_FUTURE_MS = 24 * 3_600_000;

/** null when `e` is valid, otherwise the reason (the first rule it breaks). `now` bounds the published time from above. */
export function validateMarketEvent(e: MarketEvent, now: number): string | null {
  // The same rule as the MarketEvent node key, so every stored event can become a node.
  if (typeof e.id !== 'string' || !EVENT_ID_PATTERN.test(e.id)) {
    return `id ${JSON.stringify(e.id)} is not an event id (1-128 letters, digits, _ . -; starting with a letter or digit)`;
  }
  if (typeof e.headline !== 'string' || e.headline.trim() === '') return 'headline is empty';
  if (e.headline.length > MAX_HEADLINE) return `headline is longer than ${MAX_HEADLINE} characters`;
  if (e.summary != null && e.summary.length > MAX_SUMMARY) return `summary is longer than ${MAX_SUMMARY} characters`;
  if (typeof e.source !== 'string' || e.source.trim() === '') return 'source is empty';
  if (!Array.isArray(e.symbols) || e.symbols.length > MAX_SYMBOLS) return `symbols must be a list of at most ${MAX_SYMBOLS} tickers`;
  const bad = e.symbols.find((s) => !SYMBOL_PATTERN.test(s));
  if (bad !== undefined) return `symbol ${JSON.stringify(bad)} is not a ticker (A-Z, 0-9, . ^ = -, 1-15 chars)`;
  if (e.url != null && !/^https?:\/\/\S+$/i.test(e.url)) return `url ${JSON.stringify(e.url)} is not an http(s) URL`;
  for (const field of ['publishedAt', 'ingestTime'] as const) {
    const v = e[field];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < MIN_TIMESTAMP_MS) return `${field} is not a valid epoch-ms time (${String(v)})`;
  }
  if (e.publishedAt > Math.max(now, e.ingestTime) + MAX_FUTURE_MS) return `publishedAt ${new Date(e.publishedAt).toISOString()} is in the future`;
  return null;
}
