// Synthetic price source: a seeded, correlated random walk producing realistic OHLCV, offline (the default source).
// Log price = reference price + volatility × (market factor + sector factor + own noise), each factor a Brownian
// path from random-walk.ts run on trading time (trading-time.ts), so bars are deterministic per (seed, symbol, time)
// and same-sector symbols co-move. On the `us` calendar (lib/calendar.ts) bars exist only inside sessions, each session
// opens with an overnight gap, volatility is annualised over 252 trading days, and a session's volume follows a U over
// its minutes; `24x7` trades around the clock (the demo's live prices, benchmarks).
import { z } from 'zod';
import { CALENDAR_NAMES, calendarOf, type BarSlot } from '../../lib/calendar.ts';
import { SYNTHETIC_SEED_DEFAULT } from '../../lib/config.ts';
import type { PriceUpdate } from '../../schemas/types.generated.ts';
import { PRICE_INTERVALS, intervalMs, type PriceInterval } from '../../topics/price-update.ts';
import { MAX_SECOND, brownianAt, gaussian, hash4, hashString, uniform } from './random-walk.ts';
import { createTradingClock, volumeShare } from './trading-time.ts';
import type { HistoryRange, PriceFeed } from './types.ts';

export const DEFAULT_SECTORS: Record<string, string[]> = {
  tech: ['AAPL', 'MSFT', 'GOOGL', 'GOOG', 'NVDA', 'META', 'AMZN', 'AMD', 'INTC', 'ORCL', 'CRM', 'ADBE', 'AVGO'],
  auto: ['TSLA', 'F', 'GM', 'TM'],
  finance: ['JPM', 'BAC', 'GS', 'MS', 'WFC', 'C'],
  energy: ['XOM', 'CVX', 'COP', 'SHEL'],
  health: ['JNJ', 'PFE', 'MRK', 'UNH', 'LLY', 'ABBV'],
};

export const syntheticConfigSchema = z.object({
  seed: z.number().int().min(0).default(SYNTHETIC_SEED_DEFAULT).describe('Same seed, symbols and times give the same bars'),
  interval: z.enum(PRICE_INTERVALS).default('1m').describe('Interval of the bars fetch() emits (tick = one price per second)'),
  calendar: z.enum(CALENDAR_NAMES).default('us').describe('us: NYSE/Nasdaq sessions, holidays and half days; 24x7: never closes'),
  marketLoading: z.number().min(0).max(1).default(0.55).describe('Weight of the market factor in every return'),
  sectorLoading: z.number().min(0).max(1).default(0.75).describe('Weight of the sector factor (same-sector correlation = market² + sector²)'),
  sectors: z.record(z.string(), z.array(z.string())).default(DEFAULT_SECTORS).describe('Sector → symbols; other symbols only share the market factor'),
  volatility: z.tuple([z.number().positive(), z.number().positive()]).default([0.2, 0.5]).describe('Range of annualized volatility, one value per symbol'),
  overnightShare: z.number().min(0).max(0.9).default(0.2).describe("Share of a day's variance in the overnight gap (us calendar)"),
  referenceTime: z.number().int().default(Date.UTC(2025, 0, 1)).describe('Epoch ms at which each symbol trades at its reference price'),
  maxCatchUpBars: z.number().int().min(1).default(2000)
    .describe('Most missed bars fetch() regenerates per symbol after a pause or a restart (about five sessions of 1m bars)'),
}).refine((c) => c.marketLoading ** 2 + c.sectorLoading ** 2 <= 1, { message: 'marketLoading² + sectorLoading² must be <= 1' });
export type SyntheticConfig = z.output<typeof syntheticConfigSchema>;

/**
 * A bar fetch() emits that ended longer ago than this goes out as `backfill`: history regenerated for a hole (after a
 * restart, a weekend), not a live bar, so the producer's staleness limit (15 min by default) does not refuse it.
 */
export const LIVE_WINDOW_MS = 10 * 60_000;

/**
 * How far back a restart looks for the last bar published, whatever the interval: 2 × 2,000 1m bars are about ten
 * sessions, two weeks; 2,000 hourly or daily bars would be a year or eight, and a read of the topic that long.
 */
export const MAX_RESUME_LOOKBACK_MS = 14 * 86_400_000;

/** Rough closes of 2024-12-31, so the default symbols look familiar; other symbols get a price from their name. */
const REFERENCE_PRICES: Record<string, number> = {
  AAPL: 250.4, MSFT: 421.5, GOOGL: 189.3, GOOG: 190.4, TSLA: 403.8, NVDA: 134.3, AMZN: 219.4, META: 585.5,
};
/** Mean of 1 + 0.8·|Z|, so a bar's activity factor (busier when the price moves) averages 1. */
const MEAN_ACTIVITY = 1 + 0.8 * Math.sqrt(2 / Math.PI);
const DAY_MS = 86_400_000;

interface SymbolModel {
  symbol: string;
  logP0: number;
  sigma: number; // per sqrt(trading second)
  betaMarket: number;
  betaSector: number;
  betaOwn: number;
  sectorStream: number | null;
  ownStream: number;
  dailyVolume: number; // shares in a regular session, before the day's own noise
  tradeSize: number; // mean shares per trade
}

export interface SyntheticSource extends PriceFeed {
  readonly name: 'synthetic';
  readonly config: SyntheticConfig;
  /**
   * Bars of `interval` for `symbols` whose event time lies in [from, to) and inside a session of the calendar, ordered
   * by time then symbol list order. Pure and synchronous: the same arguments always give the same bars (except ingestTime).
   */
  bars(symbols: readonly string[], range: { from: number; to: number; interval: PriceInterval },
    opts?: { source?: PriceUpdate['source']; ingestTime?: number }): PriceUpdate[];
  history(symbol: string, range: HistoryRange): Promise<PriceUpdate[]>;
  acknowledge(records: readonly PriceUpdate[]): void;
  /**
   * At a restart, look for the last bars published within twice the catch-up bound back from `now` (at most
   * MAX_RESUME_LOOKBACK_MS): one found there but before the bound still gets the bound's worth regenerated; none found
   * is a fresh start (the latest bar only).
   */
  resumeQuery(now: number): { interval: PriceInterval; since: number };
  /** After a restart: the last bar published per symbol (its event time), so fetch() regenerates the ones after it. */
  resume(lastPublished: ReadonlyMap<string, number>): void;
}

export function createSyntheticSource(input: z.input<typeof syntheticConfigSchema> = {}, deps: { clock?: () => number } = {}): SyntheticSource {
  const config = syntheticConfigSchema.parse(input);
  const clock = deps.clock ?? Date.now;
  const seed = config.seed >>> 0;
  const calendar = calendarOf(config.calendar);
  const trading = createTradingClock(calendar, config.overnightShare);
  const refSecond = trading.atInstant(config.referenceTime);
  const sectorOf = new Map<string, string>();
  for (const [sector, members] of Object.entries(config.sectors)) for (const s of members) sectorOf.set(s, sector);
  const models = new Map<string, SymbolModel>();
  // Per symbol: the last bar start whose publication Kafka acknowledged (moved by acknowledge() and resume(), never by
  // fetch), and, while none was, the start of the first bar offered; so a tick whose send failed offers the same bars again.
  const lastAcknowledged = new Map<string, number>();
  const firstOffered = new Map<string, number>();
  const marketStream = hashString('market');

  function model(symbol: string): SymbolModel {
    let m = models.get(symbol);
    if (m) return m;
    const h = hashString(`symbol:${symbol}`);
    const [volLo, volHi] = config.volatility;
    const annualVol = volLo + (volHi - volLo) * uniform(hash4(h, 1, 0, 0));
    const sector = sectorOf.get(symbol);
    const betaSector = sector === undefined ? 0 : config.sectorLoading;
    const ref = REFERENCE_PRICES[symbol] ?? Math.exp(Math.log(15) + (Math.log(400) - Math.log(15)) * uniform(hash4(h, 2, 0, 0)));
    const dailyVolume = Math.exp(Math.log(2e6) + (Math.log(8e7) - Math.log(2e6)) * uniform(hash4(h, 3, 0, 0)));
    const tradeSize = 50 + 150 * uniform(hash4(h, 4, 0, 0));
    m = {
      symbol,
      logP0: Math.log(ref),
      sigma: annualVol / Math.sqrt(trading.secondsPerYear),
      betaMarket: config.marketLoading,
      betaSector,
      betaOwn: Math.sqrt(Math.max(0, 1 - config.marketLoading ** 2 - betaSector ** 2)),
      sectorStream: sector === undefined ? null : hashString(`sector:${sector}`),
      ownStream: hashString(`own:${symbol}`),
      dailyVolume,
      tradeSize,
    };
    models.set(symbol, m);
    return m;
  }

  /** Factor paths at `seconds` (trading time) minus their value at the reference time, computed once per stream per call. */
  function pathsFor(streams: Iterable<number>, seconds: Float64Array): Map<number, Float64Array> {
    const out = new Map<number, Float64Array>();
    const ref = new Float64Array(1);
    for (const stream of streams) {
      if (out.has(stream)) continue;
      const values = brownianAt(seed, stream, seconds, new Float64Array(seconds.length));
      const atRef = brownianAt(seed, stream, [refSecond], ref)[0] as number;
      for (let i = 0; i < values.length; i++) values[i] = (values[i] as number) - atRef;
      out.set(stream, values);
    }
    return out;
  }

  /** The bars of `slots` (in time order) for `symbols`; `sourceOf` labels each slot's records. */
  function generate(symbols: readonly string[], interval: PriceInterval, slots: readonly BarSlot[], sourceOf: (slot: BarSlot) => PriceUpdate['source'],
    ingestTime: number): PriceUpdate[] {
    if (slots.length === 0 || symbols.length === 0) return [];
    const tick = interval === 'tick';
    const step = tick ? 1 : intervalMs(interval) / 1000;
    // Trading times of the slots' starts and ends, sorted and distinct (a bar's end is the next one's start).
    const times: number[] = [];
    const startAt = new Int32Array(slots.length), endAt = new Int32Array(slots.length);
    const point = (t: number) => { if (times[times.length - 1] !== t) times.push(t); return times.length - 1; };
    slots.forEach((slot, i) => {
      startAt[i] = point(trading.at(slot.session, slot.start));
      endAt[i] = tick ? startAt[i] as number : point(trading.at(slot.session, slot.end));
    });
    if (slots[0]!.start < 0 || (times[times.length - 1] as number) > MAX_SECOND) throw new RangeError('synthetic prices cover 1970-01-01 to 2106-02-07');
    const seconds = Float64Array.from(times);
    const ms = symbols.map(model);
    const streams = new Set<number>([marketStream]);
    for (const m of ms) { streams.add(m.ownStream); if (m.sectorStream !== null) streams.add(m.sectorStream); }
    const paths = pathsFor(streams, seconds);
    const market = paths.get(marketStream) as Float64Array;
    const logPrices = ms.map((m) => {
      const own = paths.get(m.ownStream) as Float64Array;
      const sector = m.sectorStream === null ? null : paths.get(m.sectorStream) as Float64Array;
      const x = new Float64Array(seconds.length);
      for (let i = 0; i < x.length; i++) {
        const z = m.betaMarket * (market[i] as number) + m.betaOwn * (own[i] as number) + (sector ? m.betaSector * (sector[i] as number) : 0);
        x[i] = m.logP0 + m.sigma * z;
      }
      return x;
    });

    const out: PriceUpdate[] = new Array(slots.length * ms.length);
    let k = 0;
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i] as BarSlot;
      const { session } = slot;
      const barIndex = Math.floor(slot.eventTime / 1000 / step);
      const dayIndex = Math.floor(session.open / DAY_MS);
      const length = (session.close - session.open) / 1000;
      const fraction = (t: number) => (t - session.open) / 1000 / length;
      const source = sourceOf(slot);
      for (let j = 0; j < ms.length; j++) {
        const m = ms[j] as SymbolModel;
        const x = logPrices[j] as Float64Array;
        const h = hash4(seed, m.ownStream, step, barIndex);
        // The session's volume: the symbol's daily volume with the day's own noise, pro rata on a half day.
        const dayNoise = Math.exp(0.3 * gaussian(hash4(seed, m.ownStream, 0x1d, dayIndex)) - 0.045);
        const sessionVolume = m.dailyVolume * (length / trading.regularSessionSeconds) * dayNoise;
        const x0 = x[startAt[i] as number] as number;
        let open: number, high: number, low: number, close: number, volume: number, vwap: number;
        if (tick) {
          open = high = low = close = vwap = price(x0);
          const share = volumeShare(config.calendar, fraction(slot.start), Math.min(1, fraction(slot.start + 1000)));
          volume = Math.max(1, Math.round(sessionVolume * share * Math.exp(0.5 * gaussian(h) - 0.125)));
        } else {
          const x1 = x[endAt[i] as number] as number;
          const d = x1 - x0;
          const variance = m.sigma * m.sigma * (seconds[endAt[i] as number]! - seconds[startAt[i] as number]!);
          // Maximum and minimum of a Brownian bridge from x0 to x1 (exact distribution, inverse CDF).
          const up = (d + Math.sqrt(d * d - 2 * variance * Math.log(uniform(hash4(h, 11, 0, 0))))) / 2;
          const down = (-d + Math.sqrt(d * d - 2 * variance * Math.log(uniform(hash4(h, 12, 0, 0))))) / 2;
          open = price(x0); close = price(x1); high = price(x0 + up); low = price(x0 - down);
          if (interval === '1d') volume = Math.max(1, Math.round(sessionVolume));
          else {
            // Its share of the session's volume on the U profile, busier when the price moved, noisy; averaging 1, so a
            // session's bars add up to about its daily bar's volume.
            const activity = (1 + 0.8 * Math.abs(d) / Math.sqrt(variance)) / MEAN_ACTIVITY;
            const share = volumeShare(config.calendar, fraction(slot.start), fraction(slot.end));
            volume = Math.max(1, Math.round(sessionVolume * share * activity * Math.exp(0.35 * gaussian(hash4(h, 13, 0, 0)) - 0.06125)));
          }
          // The time average of a Brownian bridge: the midpoint, spread by sqrt(variance / 12); kept inside the bar.
          const average = x0 + d / 2 + Math.sqrt(variance / 12) * gaussian(hash4(h, 14, 0, 0));
          vwap = Math.min(high, Math.max(low, Math.round(Math.exp(average) * 10_000) / 10_000));
        }
        // Trades of about tradeSize shares each (at least one, never more than the shares traded).
        const trades = Math.min(volume, Math.max(1, Math.round(volume / (m.tradeSize * Math.exp(0.2 * gaussian(hash4(h, 15, 0, 0)))))));
        out[k++] = { symbol: m.symbol, interval, eventTime: slot.eventTime, open, high, low, close, volume, source, ingestTime, quality: 1, vwap, trades, final: true, adjusted: false };
      }
    }
    return out;
  }

  const source: SyntheticSource = {
    name: 'synthetic',
    config,

    bars(symbols, range, opts = {}) {
      const label = opts.source ?? 'synthetic';
      return generate(symbols, range.interval, calendar.bars(range.interval, range.from, range.to), () => label, opts.ingestTime ?? clock());
    },

    async fetch(symbols, now) {
      const interval = config.interval;
      // The bars complete by now (a tick once its second began), as many back as a catch-up may regenerate.
      const recent = calendar.lastBars(interval, now, config.maxCatchUpBars);
      if (recent.length === 0) return [];
      const firstAfter = (t: number) => { const i = recent.findIndex((b) => b.eventTime > t); return i < 0 ? recent.length : i; };
      // Symbols that share the same missing range are generated together (one pass per distinct first bar).
      const byFirst = new Map<number, string[]>();
      for (const symbol of symbols) {
        const last = lastAcknowledged.get(symbol);
        const offered = firstOffered.get(symbol);
        // Never published: the latest bar only (nothing was missed); else everything after the last one published.
        const first = last !== undefined ? firstAfter(last) : offered !== undefined ? firstAfter(offered - 1) : recent.length - 1;
        if (first >= recent.length) continue;
        if (last === undefined && offered === undefined) firstOffered.set(symbol, (recent[first] as BarSlot).eventTime);
        byFirst.set(first, [...(byFirst.get(first) ?? []), symbol]);
      }
      const live = (slot: BarSlot) => (now - slot.end > LIVE_WINDOW_MS ? 'backfill' : 'synthetic');
      return [...byFirst].flatMap(([first, group]) => generate(group, interval, recent.slice(first), live, now));
    },

    acknowledge(records) {
      for (const r of records) {
        if (r.interval !== config.interval || r.eventTime <= (lastAcknowledged.get(r.symbol) ?? -Infinity)) continue;
        lastAcknowledged.set(r.symbol, r.eventTime);
        firstOffered.delete(r.symbol);
      }
    },

    resumeQuery(now) {
      const since = calendar.lastBars(config.interval, now, 2 * config.maxCatchUpBars)[0]?.start ?? now;
      return { interval: config.interval, since: Math.max(since, now - MAX_RESUME_LOOKBACK_MS) };
    },

    resume(lastPublished) {
      for (const [symbol, t] of lastPublished) {
        if (t <= (lastAcknowledged.get(symbol) ?? -Infinity)) continue;
        lastAcknowledged.set(symbol, t);
        firstOffered.delete(symbol);
      }
    },

    async history(symbol, range) {
      // Only bars that have ended: a backfill never publishes a bar still in progress.
      const now = clock();
      const slots = calendar.bars(range.interval, range.from, range.to).filter((b) => b.end <= now);
      return generate([symbol], range.interval, slots, () => 'backfill', now);
    },
  };
  return source;
}

/** Rounded like a quote (cents above $1, 4 decimals below); monotone, so OHLC order survives rounding. */
function price(logPrice: number): number {
  const p = Math.exp(logPrice);
  return p >= 1 ? Math.round(p * 100) / 100 : Math.max(0.0001, Math.round(p * 10_000) / 10_000);
}
