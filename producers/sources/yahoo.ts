// Yahoo Finance price source (yahoo-finance2): live quotes or intraday bars, and daily/hourly history for backfill.
// Every request goes through lib/resilience (rate limit, retry with backoff + jitter, circuit breaker), and a refused
// crumb is renewed once per call; the client setup is ../yahoo-client.ts. `deps.fetch` replaces the HTTP client (tests feed recorded responses through it).
import { z } from 'zod';
import type { PriceUpdate } from '../../schemas/types.generated.ts';
import type { CircuitState } from '../../lib/resilience.ts';
import { intervalMs, QUALITY, type PriceInterval } from '../../topics/price-update.ts';
import { createYahooClient, yahooClientFields, type YahooClientDeps } from '../yahoo-client.ts';
import { createCursor, createHandOff, fetchEachSymbol, liveFeedFields, publishableBar, tickOf } from './live.ts';
import type { HistoryRange, PriceFeed, RejectedInput, SourceHealth } from './types.ts';

export const yahooConfigSchema = z.object({ ...liveFeedFields, ...yahooClientFields });
export type YahooConfig = z.output<typeof yahooConfigSchema>;

export interface YahooDeps extends YahooClientDeps {
  clock?: () => number;
}

export interface YahooSource extends PriceFeed {
  readonly name: 'yahoo';
  history(symbol: string, range: HistoryRange): Promise<PriceUpdate[]>;
  circuitState(): CircuitState;
  health(): SourceHealth;
}

interface Bar { date: Date; open: number | null; high: number | null; low: number | null; close: number | null; volume: number | null }

export function createYahooSource(input: z.input<typeof yahooConfigSchema>, deps: YahooDeps): YahooSource {
  const config = yahooConfigSchema.parse(input);
  const { yf, resilient, run, logger } = createYahooClient('yahoo', config, deps);
  const clock = deps.clock ?? Date.now;
  // A poll repeats nothing that was published and everything that was not (./live.ts).
  const cursor = createCursor();
  const warnedMissing = new Set<string>();
  const rejected = createHandOff<RejectedInput>();
  const failed = createHandOff<string>();

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
      if (!cursor.isNew(q.symbol, 'tick', time)) continue; // unchanged since the last published poll (e.g. market closed)
      // Yahoo's day high/low often lag the last price (price 335.10, regularMarketDayHigh 334.54): tickOf widens them.
      out.push(tickOf({ symbol: q.symbol, time, price, open: q.regularMarketOpen, high: q.regularMarketDayHigh, low: q.regularMarketDayLow,
        volume: q.regularMarketVolume, source: 'yahoo', now }));
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
    const chart = await run(
      () => yf.chart(symbol, { period1: new Date(now - config.lookbackMinutes * 60_000), period2: new Date(now), interval, includePrePost: false }),
      `chart ${symbol}`,
    );
    const out: PriceUpdate[] = [];
    for (const bar of chart.quotes) {
      const start = bar.date.getTime();
      if (!publishableBar(config, cursor, symbol, start, now, { lookback: false })) continue;
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
      return fetchEachSymbol(symbols, (s) => intradayBars(s, now), { logger, provider: 'Yahoo chart', failed: failed.push });
    },

    async history(symbol, range) {
      const now = clock();
      const chart = await run(
        () => yf.chart(symbol, { period1: new Date(range.from), period2: new Date(Math.min(range.to, now)), interval: range.interval, includePrePost: false }),
        `history ${symbol}`,
      );
      const gmtoffsetMs = (chart.meta.gmtoffset ?? 0) * 1000;
      const ms = intervalMs(range.interval);
      const out: PriceUpdate[] = [];
      for (const bar of chart.quotes) {
        const t = bar.date.getTime();
        // Daily bars are stamped at the session open; keyed here by the exchange-local date (UTC midnight), stable across runs.
        const start = range.interval === '1d' ? Math.floor((t + gmtoffsetMs) / ms) * ms : t;
        if (start < range.from || start >= range.to || start + ms > now) continue;
        const u = toUpdate(symbol, range.interval, start, bar, 'backfill', now);
        if (u) out.push(u);
      }
      return out;
    },

    acknowledge: cursor.acknowledge,

    takeRejected: rejected.take,
    takeFailedSymbols: failed.take,

    circuitState: () => resilient.state(),

    health() {
      const circuit = resilient.state();
      return circuit === 'open' ? { circuit, available: false, reason: 'circuit open' } : { circuit, available: true };
    },

    async close() {
      await resilient.shutdown();
    },
  };
}
