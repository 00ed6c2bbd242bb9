// Yahoo Finance price source (yahoo-finance2): live quotes or intraday bars, and daily/hourly history for backfill.
// Every request goes through lib/resilience (rate limit, retry with backoff + jitter, circuit breaker), and a refused
// crumb is renewed once per call; the client setup is ../yahoo-client.ts. `deps.fetch` replaces the HTTP client (tests feed recorded responses through it).
// Revisions (issue #22): Yahoo revises its last minutes (late trades, volume), so each poll re-reads the last
// `lookbackMinutes` and republishes a bar whose values changed since it was published (never one that did not); a bar
// is provisional (`final: false`) until its end plus `settleSeconds`. After a restart the bars already published are
// read back from the topic (../resume.ts), so unchanged ones are not published again. An outage longer than the
// lookback leaves bars no chart request of the live source reaches: logged and counted, for `backfill --gaps`.
// Prices: the live bars and ticks are as traded (`adjusted: false`); Yahoo's chart OHLCV are split-adjusted, so
// history() turns them back into as-traded prices with the chart's split events (the dividend-adjusted adjclose is
// never used), and a series never mixes adjusted and raw bars.
import { z } from 'zod';
import type { PriceUpdate } from '../../schemas/types.generated.ts';
import type { CircuitState } from '../../lib/resilience.ts';
import { US_CALENDAR } from '../../lib/calendar.ts';
import { intervalMs, QUALITY, type PriceInterval } from '../../topics/price-update.ts';
import { createYahooClient, yahooClientFields, type YahooClientDeps } from '../yahoo-client.ts';
import { createHandOff, fetchEachSymbol, liveFeedFields, tickOf } from './live.ts';
import type { HistoryRange, PriceFeed, RejectedInput, SourceHealth } from './types.ts';

export const yahooConfigSchema = z.object({
  ...liveFeedFields,
  lookbackMinutes: z.number().int().min(1).max(60 * 24 * 7).default(15)
    .describe('How far back each chart request reaches: missed polls, and the minutes Yahoo still revises (a changed bar is published again)'),
  settleSeconds: z.number().int().min(0).max(3600).default(120)
    .describe('A bar is provisional (final: false) until this long after it ended: Yahoo still adds late trades to its last minutes'),
  ...yahooClientFields,
});
export type YahooConfig = z.output<typeof yahooConfigSchema>;

export interface YahooDeps extends YahooClientDeps {
  clock?: () => number;
  /** An outage left `bars` session bars of `symbol` beyond the lookback (the metric marketstream_source_gap_bars_total). */
  onGap?: (gap: { symbol: string; interval: string; bars: number }) => void;
}

export interface YahooSource extends PriceFeed {
  readonly name: 'yahoo';
  history(symbol: string, range: HistoryRange): Promise<PriceUpdate[]>;
  circuitState(): CircuitState;
  health(): SourceHealth;
}

/** The longest span of 1m bars one chart request may ask for. */
const MINUTE_REQUEST_MS = 7 * 86_400_000;

interface Bar { date: Date; open: number | null; high: number | null; low: number | null; close: number | null; volume: number | null }
interface Split { date: Date; numerator: number; denominator: number }

/** What a republish compares: the values of a bar, not when it was fetched. */
const fingerprint = (u: PriceUpdate) => `${u.open}|${u.high}|${u.low}|${u.close}|${u.volume}|${u.quality}|${u.final ?? null}`;

/**
 * The as-traded bar of a split-adjusted one: Yahoo divides the prices before a split by its ratio (and multiplies the
 * volume), so those of a bar before `splits` are multiplied back (a 4:1 split after the bar: prices x4, volume /4).
 */
export function unadjust(bar: Bar, splits: readonly Split[]): Bar {
  const t = bar.date.getTime();
  let f = 1;
  for (const sp of splits) if (sp.date.getTime() > t && sp.numerator > 0 && sp.denominator > 0) f *= sp.numerator / sp.denominator;
  if (f === 1) return bar;
  const x = (v: number | null) => (v === null ? null : v * f);
  return { ...bar, open: x(bar.open), high: x(bar.high), low: x(bar.low), close: x(bar.close), volume: bar.volume === null ? null : bar.volume / f };
}

export function createYahooSource(input: z.input<typeof yahooConfigSchema>, deps: YahooDeps): YahooSource {
  const config = yahooConfigSchema.parse(input);
  const { yf, resilient, run, logger } = createYahooClient('yahoo', config, deps);
  const clock = deps.clock ?? Date.now;
  // Per symbol: the newest event time whose publication Kafka acknowledged (moved by acknowledge(), never by fetch), so
  // a poll repeats nothing that was published and everything that was not.
  const lastEventTime = new Map<string, number>();
  // Per symbol: what was published (acknowledged, or read back at a restart) of each bar still within the lookback, so a
  // re-read bar is published again only when its values changed.
  const published = new Map<string, Map<number, string>>();
  // Per symbol: the last bar before the outage already reported as a gap (reported once).
  const reportedGap = new Map<string, number>();
  const settleMs = config.settleSeconds * 1000;
  const warnedMissing = new Set<string>();
  const rejected = createHandOff<RejectedInput>();
  const failed = createHandOff<string>();

  // Yahoo's chart and quote answers carry neither a VWAP nor a trade count, so vwap and trades (price-update version 2)
  // stay unset (null) for Yahoo bars and ticks.
  function toUpdate(symbol: string, interval: PriceInterval, eventTime: number, bar: Bar, source: 'yahoo' | 'backfill', now: number,
    final: boolean): PriceUpdate | null {
    if (bar.open === null || bar.high === null || bar.low === null || bar.close === null) return null; // no trades in the bar
    return {
      symbol, interval, eventTime,
      open: bar.open, high: bar.high, low: bar.low, close: bar.close,
      volume: bar.volume ?? 0,
      source, ingestTime: now,
      quality: bar.volume === null ? QUALITY.filled : QUALITY.complete, // a reported 0 is complete; a missing volume, filled
      final, adjusted: false,
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
      // Yahoo's day high/low often lag the last price (price 335.10, regularMarketDayHigh 334.54): tickOf widens them.
      out.push({
        ...tickOf({ symbol: q.symbol, time, price, open: q.regularMarketOpen, high: q.regularMarketDayHigh, low: q.regularMarketDayLow,
          volume: q.regularMarketVolume, source: 'yahoo', now }),
        adjusted: false,
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
    reportGap(symbol, now);
    const seen = published.get(symbol);
    const last = lastEventTime.get(symbol) ?? -Infinity;
    for (const bar of chart.quotes) {
      const start = bar.date.getTime();
      // Only whole, aligned bars that have ended: the last entry is often the bar in progress, stamped "now".
      if (start % ms !== 0 || start + ms > now) continue;
      // A bar another source of a chain published (acknowledged, never remembered here) is not Yahoo's to revise.
      if (start <= last && !seen?.has(start)) continue;
      const u = toUpdate(symbol, interval, start, bar, 'yahoo', now, now >= start + ms + settleMs);
      if (u && seen?.get(start) !== fingerprint(u)) out.push(u); // new, or revised since it was published
    }
    return out;
  }

  /**
   * An outage longer than the lookback: the session bars between the last one published and the first one this
   * request reaches are beyond the live source; logged (once per outage) and counted, for `backfill --gaps`.
   */
  function reportGap(symbol: string, now: number) {
    const last = lastEventTime.get(symbol);
    if (last === undefined || reportedGap.get(symbol) === last) return;
    const ms = intervalMs(config.barInterval);
    const reach = now - config.lookbackMinutes * 60_000;
    if (last + ms >= reach) return;
    const missed = US_CALENDAR.bars(config.barInterval, last + ms, reach).length;
    if (missed === 0) return; // the market was closed meanwhile: nothing was missed
    reportedGap.set(symbol, last);
    deps.onGap?.({ symbol, interval: config.barInterval, bars: missed });
    logger.warn({ symbol, interval: config.barInterval, lastPublished: new Date(last).toISOString(), reach: new Date(reach).toISOString(), missed },
      `Yahoo ${config.barInterval} bars of ${symbol} missed: the outage was longer than the lookback (${config.lookbackMinutes} min), `
      + `so the live source cannot fetch them; run \`marketstream backfill --gaps --symbols ${symbol} --interval ${config.barInterval}\` to fill them`);
  }

  /** Remembers what was published of each bar; forgets the bars older than the lookback (no request reaches them). */
  function remember(u: PriceUpdate, horizon: number) {
    let seen = published.get(u.symbol);
    if (!seen) published.set(u.symbol, seen = new Map());
    seen.set(u.eventTime, fingerprint(u));
    for (const t of seen.keys()) if (t < horizon) seen.delete(t);
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
      const ms = intervalMs(range.interval);
      const out: PriceUpdate[] = [];
      const end = Math.min(range.to, now);
      // Yahoo answers at most 7 days of 1m bars per request (and refuses the request otherwise): longer spans go in pieces.
      const piece = range.interval === '1m' ? MINUTE_REQUEST_MS : Infinity;
      const pieces: Array<{ quotes: Bar[]; gmtoffsetMs: number; from: number; to: number }> = [];
      const splits: Split[] = [];
      for (let from = range.from; from < end; from += piece) {
        const to = Math.min(end, from + piece);
        const chart = await run(
          () => yf.chart(symbol, { period1: new Date(from), period2: new Date(to), interval: range.interval, includePrePost: false }),
          `history ${symbol}`,
        );
        const gmtoffsetMs = (chart.meta.gmtoffset ?? 0) * 1000;
        pieces.push({ quotes: chart.quotes, gmtoffsetMs, from, to });
        splits.push(...(chart.events?.splits ?? []));
      }
      // The splits after the range (a chart answer carries those within its own period only).
      if (end < now - 86_400_000) {
        const after = await run(() => yf.chart(symbol, { period1: new Date(end), period2: new Date(now), interval: '1d', events: 'split' }),
          `splits ${symbol}`);
        splits.push(...(after.events?.splits ?? []));
      }
      for (const { quotes, gmtoffsetMs, from, to } of pieces) {
        for (const raw of quotes) {
          const bar = unadjust(raw, splits);
          const t = bar.date.getTime();
          // Daily bars are stamped at the session open; keyed here by the exchange-local date (UTC midnight), stable across runs.
          const start = range.interval === '1d' ? Math.floor((t + gmtoffsetMs) / ms) * ms : t;
          if (start < from || start >= (to === end ? range.to : to) || start + ms > now) continue;
          const u = toUpdate(symbol, range.interval, start, bar, 'backfill', now, true);
          if (u) out.push(u);
        }
      }
      return out;
    },

    acknowledge(records) {
      const horizon = clock() - config.lookbackMinutes * 60_000 - intervalMs(config.barInterval);
      for (const r of records) {
        if (r.eventTime > (lastEventTime.get(r.symbol) ?? -Infinity)) lastEventTime.set(r.symbol, r.eventTime);
        // Yahoo's own bars only: one another source of a chain published is past the cursor, not a bar Yahoo revises.
        if (r.interval !== 'tick' && r.source === 'yahoo') remember(r, Math.min(horizon, r.eventTime));
      }
    },

    // Bars mode only: the bars published within the lookback, read back at a restart, are not published again unless
    // Yahoo changed them; the last one published is where a gap report starts.
    ...(config.mode === 'bars' ? {
      resumeQuery: (now: number) => ({
        interval: config.barInterval, since: now - config.lookbackMinutes * 60_000 - 2 * intervalMs(config.barInterval) - settleMs, values: true,
      }),
      resume(lastPublished: ReadonlyMap<string, number>, bars?: ReadonlyMap<string, readonly PriceUpdate[]>) {
        for (const [symbol, t] of lastPublished) if (t > (lastEventTime.get(symbol) ?? -Infinity)) lastEventTime.set(symbol, t);
        for (const list of bars?.values() ?? []) for (const b of list) if (b.source === 'yahoo') remember(b, -Infinity);
      },
    } : {}),

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
