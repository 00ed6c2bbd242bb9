// Yahoo Finance price source (yahoo-finance2): live quotes or intraday bars, and daily/hourly history for backfill.
// Every request goes through lib/resilience (rate limit, retry with backoff + jitter, circuit breaker), and a refused
// crumb is renewed once per call; the client setup is ../yahoo-client.ts. `deps.fetch` replaces the HTTP client (tests feed recorded responses through it).
import { z } from 'zod';
import type { PriceUpdate } from '../../schemas/types.generated.ts';
import type { CircuitState } from '../../lib/resilience.ts';
import { intervalMs, QUALITY, type PriceInterval } from '../../topics/price-update.ts';
import { createYahooClient, yahooClientFields, type YahooClientDeps } from '../yahoo-client.ts';
import type { HistoryRange, PriceFeed, RejectedInput } from './types.ts';

export const yahooConfigSchema = z.object({
  mode: z.enum(['bars', 'quote']).default('bars')
    .describe('bars: completed intraday bars (chart); quote: one tick per symbol with the session-to-date open/high/low and volume'),
  barInterval: z.enum(['1m', '5m']).default('1m').describe('Interval of the intraday bars in bars mode'),
  lookbackMinutes: z.number().int().min(1).max(60 * 24 * 7).default(15).describe('How far back each chart request reaches (covers missed polls)'),
  ...yahooClientFields,
});
export type YahooConfig = z.output<typeof yahooConfigSchema>;

export interface YahooDeps extends YahooClientDeps {
  clock?: () => number;
}

export interface YahooSource extends PriceFeed {
  readonly name: 'yahoo';
  history(symbol: string, range: HistoryRange): Promise<PriceUpdate[]>;
  circuitState(): CircuitState;
}

/** The longest span of 1m bars one chart request may ask for. */
const MINUTE_REQUEST_MS = 7 * 86_400_000;

interface Bar { date: Date; open: number | null; high: number | null; low: number | null; close: number | null; volume: number | null }

export function createYahooSource(input: z.input<typeof yahooConfigSchema>, deps: YahooDeps): YahooSource {
  const config = yahooConfigSchema.parse(input);
  const { yf, resilient, run, logger } = createYahooClient('yahoo', config, deps);
  const clock = deps.clock ?? Date.now;
  // Per symbol: the newest event time whose publication Kafka acknowledged (moved by acknowledge(), never by fetch), so
  // a poll repeats nothing that was published and everything that was not.
  const lastEventTime = new Map<string, number>();
  const warnedMissing = new Set<string>();
  let rejected: RejectedInput[] = [];

  // Yahoo's chart and quote answers carry neither a VWAP nor a trade count, so vwap and trades (price-update version 2)
  // stay unset (null) for Yahoo bars and ticks.
  function toUpdate(symbol: string, interval: PriceInterval, eventTime: number, bar: Bar, source: 'yahoo' | 'backfill', now: number): PriceUpdate | null {
    if (bar.open === null || bar.high === null || bar.low === null || bar.close === null) return null; // no trades in the bar
    return {
      symbol, interval, eventTime,
      open: bar.open, high: bar.high, low: bar.low, close: bar.close,
      volume: bar.volume ?? 0,
      source, ingestTime: now,
      quality: bar.volume === null ? QUALITY.filled : QUALITY.complete, // a reported 0 is complete; a missing volume, filled
    };
  }

  async function quotes(symbols: readonly string[], now: number): Promise<PriceUpdate[]> {
    const result = await run(() => yf.quote([...symbols]), 'quote');
    const out: PriceUpdate[] = [];
    const seen = new Set<string>();
    for (const q of result) {
      seen.add(q.symbol);
      const price = q.regularMarketPrice;
      const time = q.regularMarketTime?.getTime();
      if (price === undefined || time === undefined) {
        rejected.push({ reason: `quote for ${q.symbol} has no regularMarketPrice or regularMarketTime`, symbol: q.symbol, raw: q });
        continue;
      }
      if (time <= (lastEventTime.get(q.symbol) ?? -Infinity)) continue; // unchanged since the last published poll (e.g. market closed)
      const open = q.regularMarketOpen ?? price;
      const complete = q.regularMarketOpen !== undefined && q.regularMarketDayHigh !== undefined && q.regularMarketDayLow !== undefined
        && q.regularMarketVolume !== undefined;
      // A tick's open/high/low are the session's to date, which include every price traded in it: Yahoo's day high/low
      // often lag the last price (price 335.10, regularMarketDayHigh 334.54), so they are widened to take in the open and
      // the price (schemas/README.md, "Ticks").
      out.push({
        symbol: q.symbol, interval: 'tick', eventTime: time,
        open, high: Math.max(q.regularMarketDayHigh ?? -Infinity, open, price), low: Math.min(q.regularMarketDayLow ?? Infinity, open, price), close: price,
        volume: q.regularMarketVolume ?? 0,
        source: 'yahoo', ingestTime: now, quality: complete ? QUALITY.complete : QUALITY.filled,
      });
    }
    for (const s of symbols) {
      if (!seen.has(s) && !warnedMissing.has(s)) {
        warnedMissing.add(s);
        logger.warn({ symbol: s }, 'Yahoo returned no quote for this symbol (unknown or delisted?)');
      }
    }
    return out;
  }

  async function intradayBars(symbol: string, now: number): Promise<PriceUpdate[]> {
    const interval = config.barInterval;
    const ms = intervalMs(interval);
    const chart = await run(
      () => yf.chart(symbol, { period1: new Date(now - config.lookbackMinutes * 60_000), period2: new Date(now), interval, includePrePost: false }),
      `chart ${symbol}`,
    );
    const out: PriceUpdate[] = [];
    const last = lastEventTime.get(symbol) ?? -Infinity;
    for (const bar of chart.quotes) {
      const start = bar.date.getTime();
      // Only whole, aligned bars that have ended: the last entry is often the bar in progress, stamped "now".
      if (start % ms !== 0 || start + ms > now || start <= last) continue;
      const u = toUpdate(symbol, interval, start, bar, 'yahoo', now);
      if (u) out.push(u);
    }
    return out;
  }

  return {
    name: 'yahoo',

    async fetch(symbols, now) {
      if (symbols.length === 0) return [];
      if (config.mode === 'quote') return quotes(symbols, now);
      const settled = await Promise.allSettled(symbols.map((s) => intradayBars(s, now)));
      const failures = settled.flatMap((r, i) => (r.status === 'rejected' ? [{ symbol: symbols[i], err: r.reason as unknown }] : []));
      if (failures.length === symbols.length) throw failures[0]?.err;
      for (const f of failures) logger.warn({ symbol: f.symbol, err: (f.err as Error)?.message }, 'Yahoo chart request failed; symbol skipped this poll');
      return settled.flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
    },

    async history(symbol, range) {
      const now = clock();
      const ms = intervalMs(range.interval);
      const out: PriceUpdate[] = [];
      const end = Math.min(range.to, now);
      // Yahoo answers at most 7 days of 1m bars per request (and refuses the request otherwise): longer spans go in pieces.
      const piece = range.interval === '1m' ? MINUTE_REQUEST_MS : Infinity;
      for (let from = range.from; from < end; from += piece) {
        const to = Math.min(end, from + piece);
        const chart = await run(
          () => yf.chart(symbol, { period1: new Date(from), period2: new Date(to), interval: range.interval, includePrePost: false }),
          `history ${symbol}`,
        );
        const gmtoffsetMs = (chart.meta.gmtoffset ?? 0) * 1000;
        for (const bar of chart.quotes) {
          const t = bar.date.getTime();
          // Daily bars are stamped at the session open; keyed here by the exchange-local date (UTC midnight), stable across runs.
          const start = range.interval === '1d' ? Math.floor((t + gmtoffsetMs) / ms) * ms : t;
          if (start < from || start >= (to === end ? range.to : to) || start + ms > now) continue;
          const u = toUpdate(symbol, range.interval, start, bar, 'backfill', now);
          if (u) out.push(u);
        }
      }
      return out;
    },

    acknowledge(records) {
      for (const r of records) if (r.eventTime > (lastEventTime.get(r.symbol) ?? -Infinity)) lastEventTime.set(r.symbol, r.eventTime);
    },

    takeRejected() {
      const r = rejected;
      rejected = [];
      return r;
    },

    circuitState: () => resilient.state(),

    async close() {
      await resilient.shutdown();
    },
  };
}
