// Synthetic price source: a seeded, correlated random walk producing realistic OHLCV, offline (the default source).
// Log price = reference price + volatility × (market factor + sector factor + own noise), each factor a Brownian
// path from random-walk.ts, so bars are deterministic per (seed, symbol, time) and same-sector symbols co-move.
import { z } from 'zod';
import { SYNTHETIC_SEED_DEFAULT } from '../../lib/config.ts';
import type { PriceUpdate } from '../../schemas/types.generated.ts';
import { PRICE_INTERVALS, intervalMs, type PriceInterval } from '../../topics/price-update.ts';
import { MAX_SECOND, brownianAt, gaussian, hash4, hashString, uniform } from './random-walk.ts';
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
  marketLoading: z.number().min(0).max(1).default(0.55).describe('Weight of the market factor in every return'),
  sectorLoading: z.number().min(0).max(1).default(0.75).describe('Weight of the sector factor (same-sector correlation = market² + sector²)'),
  sectors: z.record(z.string(), z.array(z.string())).default(DEFAULT_SECTORS).describe('Sector → symbols; other symbols only share the market factor'),
  volatility: z.tuple([z.number().positive(), z.number().positive()]).default([0.2, 0.5]).describe('Range of annualized volatility, one value per symbol'),
  referenceTime: z.number().int().default(Date.UTC(2025, 0, 1)).describe('Epoch ms at which each symbol trades at its reference price'),
  maxCatchUpBars: z.number().int().min(1).default(10).describe('Most missed bars fetch() emits per symbol after a pause (older ones would be stale anyway)'),
}).refine((c) => c.marketLoading ** 2 + c.sectorLoading ** 2 <= 1, { message: 'marketLoading² + sectorLoading² must be <= 1' });
export type SyntheticConfig = z.output<typeof syntheticConfigSchema>;

/** Rough closes of 2024-12-31, so the default symbols look familiar; other symbols get a price from their name. */
const REFERENCE_PRICES: Record<string, number> = {
  AAPL: 250.4, MSFT: 421.5, GOOGL: 189.3, GOOG: 190.4, TSLA: 403.8, NVDA: 134.3, AMZN: 219.4, META: 585.5,
};
const SECONDS_PER_YEAR = 365.25 * 86_400;

interface SymbolModel {
  symbol: string;
  logP0: number;
  sigma: number; // per sqrt(second)
  betaMarket: number;
  betaSector: number;
  betaOwn: number;
  sectorStream: number | null;
  ownStream: number;
  volumePerSecond: number;
  tradeSize: number; // mean shares per trade
}

export interface SyntheticSource extends PriceFeed {
  readonly name: 'synthetic';
  readonly config: SyntheticConfig;
  /**
   * Bars of `interval` for `symbols` whose start lies in [from, to), ordered by time then symbol list order.
   * Pure and synchronous: the same arguments always give the same bars (except ingestTime).
   */
  bars(symbols: readonly string[], range: { from: number; to: number; interval: PriceInterval },
    opts?: { source?: PriceUpdate['source']; ingestTime?: number }): PriceUpdate[];
  history(symbol: string, range: HistoryRange): Promise<PriceUpdate[]>;
  acknowledge(records: readonly PriceUpdate[]): void;
}

export function createSyntheticSource(input: z.input<typeof syntheticConfigSchema> = {}, deps: { clock?: () => number } = {}): SyntheticSource {
  const config = syntheticConfigSchema.parse(input);
  const clock = deps.clock ?? Date.now;
  const seed = config.seed >>> 0;
  const refSecond = Math.floor(config.referenceTime / 1000);
  const sectorOf = new Map<string, string>();
  for (const [sector, members] of Object.entries(config.sectors)) for (const s of members) sectorOf.set(s, sector);
  const models = new Map<string, SymbolModel>();
  // Per symbol: the last bar start whose publication Kafka acknowledged (moved by acknowledge(), never by fetch), and,
  // while none was, the start of the first bar offered; so a tick whose send failed offers the same bars again.
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
      sigma: annualVol / Math.sqrt(SECONDS_PER_YEAR),
      betaMarket: config.marketLoading,
      betaSector,
      betaOwn: Math.sqrt(Math.max(0, 1 - config.marketLoading ** 2 - betaSector ** 2)),
      sectorStream: sector === undefined ? null : hashString(`sector:${sector}`),
      ownStream: hashString(`own:${symbol}`),
      volumePerSecond: dailyVolume / 86_400,
      tradeSize,
    };
    models.set(symbol, m);
    return m;
  }

  /** Factor paths at `seconds` minus their value at the reference time, computed once per stream per call. */
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

  /** Bars with starts first, first+step, … (count of them); `step` in seconds (1 for ticks). */
  function generate(symbols: readonly string[], interval: PriceInterval, firstStart: number, count: number, source: PriceUpdate['source'],
    ingestTime: number): PriceUpdate[] {
    if (count <= 0 || symbols.length === 0) return [];
    const tick = interval === 'tick';
    const step = tick ? 1 : intervalMs(interval) / 1000;
    const first = Math.floor(firstStart / 1000);
    const points = tick ? count : count + 1; // bar boundaries
    if (first < 0 || first + (points - 1) * step > MAX_SECOND) throw new RangeError('synthetic prices cover 1970-01-01 to 2106-02-07');
    const seconds = new Float64Array(points);
    for (let i = 0; i < points; i++) seconds[i] = first + i * step;
    const ms = symbols.map(model);
    const streams = new Set<number>([marketStream]);
    for (const m of ms) { streams.add(m.ownStream); if (m.sectorStream !== null) streams.add(m.sectorStream); }
    const paths = pathsFor(streams, seconds);
    const market = paths.get(marketStream) as Float64Array;
    const logPrices = ms.map((m) => {
      const own = paths.get(m.ownStream) as Float64Array;
      const sector = m.sectorStream === null ? null : paths.get(m.sectorStream) as Float64Array;
      const x = new Float64Array(points);
      for (let i = 0; i < points; i++) {
        const z = m.betaMarket * (market[i] as number) + m.betaOwn * (own[i] as number) + (sector ? m.betaSector * (sector[i] as number) : 0);
        x[i] = m.logP0 + m.sigma * z;
      }
      return x;
    });

    const out: PriceUpdate[] = new Array(count * ms.length);
    let k = 0;
    for (let i = 0; i < count; i++) {
      const startSec = first + i * step;
      const barIndex = Math.floor(startSec / step);
      for (let j = 0; j < ms.length; j++) {
        const m = ms[j] as SymbolModel;
        const x = logPrices[j] as Float64Array;
        const h = hash4(seed, m.ownStream, step, barIndex);
        const x0 = x[i] as number;
        let open: number, high: number, low: number, close: number, volume: number, vwap: number;
        if (tick) {
          open = high = low = close = vwap = price(x0);
          volume = Math.max(1, Math.round(m.volumePerSecond * Math.exp(0.5 * gaussian(h) - 0.125)));
        } else {
          const x1 = x[i + 1] as number;
          const d = x1 - x0;
          const variance = m.sigma * m.sigma * step;
          // Maximum and minimum of a Brownian bridge from x0 to x1 (exact distribution, inverse CDF).
          const up = (d + Math.sqrt(d * d - 2 * variance * Math.log(uniform(hash4(h, 11, 0, 0))))) / 2;
          const down = (-d + Math.sqrt(d * d - 2 * variance * Math.log(uniform(hash4(h, 12, 0, 0))))) / 2;
          open = price(x0); close = price(x1); high = price(x0 + up); low = price(x0 - down);
          const activity = 1 + 0.8 * Math.abs(d) / Math.sqrt(variance);
          volume = Math.max(1, Math.round(m.volumePerSecond * step * activity * Math.exp(0.35 * gaussian(hash4(h, 13, 0, 0)) - 0.06125)));
          // The time average of a Brownian bridge: the midpoint, spread by sqrt(variance / 12); kept inside the bar.
          const average = x0 + d / 2 + Math.sqrt(variance / 12) * gaussian(hash4(h, 14, 0, 0));
          vwap = Math.min(high, Math.max(low, Math.round(Math.exp(average) * 10_000) / 10_000));
        }
        // Trades of about tradeSize shares each (at least one, never more than the shares traded).
        const trades = Math.min(volume, Math.max(1, Math.round(volume / (m.tradeSize * Math.exp(0.2 * gaussian(hash4(h, 15, 0, 0)))))));
        out[k++] = { symbol: m.symbol, interval, eventTime: startSec * 1000, open, high, low, close, volume, source, ingestTime, quality: 1, vwap, trades };
      }
    }
    return out;
  }

  const source: SyntheticSource = {
    name: 'synthetic',
    config,

    bars(symbols, range, opts = {}) {
      const { from, to, interval } = range;
      const stepMs = interval === 'tick' ? 1000 : intervalMs(interval);
      const firstIndex = Math.ceil(from / stepMs);
      const count = Math.ceil(to / stepMs) - firstIndex;
      return generate(symbols, interval, firstIndex * stepMs, count, opts.source ?? 'synthetic', opts.ingestTime ?? clock());
    },

    async fetch(symbols, now) {
      const interval = config.interval;
      const stepMs = interval === 'tick' ? 1000 : intervalMs(interval);
      // A tick is the price at the current second; a bar is emitted once it has ended.
      const latest = interval === 'tick' ? Math.floor(now / stepMs) * stepMs : (Math.floor(now / stepMs) - 1) * stepMs;
      // Symbols that share the same missing range are generated together (one pass per distinct start).
      const byStart = new Map<number, string[]>();
      for (const symbol of symbols) {
        const last = lastAcknowledged.get(symbol);
        const earliest = interval === 'tick' ? latest : latest - (config.maxCatchUpBars - 1) * stepMs;
        const start = Math.max(last === undefined ? firstOffered.get(symbol) ?? latest : last + stepMs, earliest);
        if (start > latest) continue;
        if (last === undefined && !firstOffered.has(symbol)) firstOffered.set(symbol, start);
        const group = byStart.get(start) ?? [];
        group.push(symbol);
        byStart.set(start, group);
      }
      const out: PriceUpdate[] = [];
      for (const [start, group] of byStart) {
        out.push(...generate(group, interval, start, (latest - start) / stepMs + 1, 'synthetic', now));
      }
      return out;
    },

    acknowledge(records) {
      for (const r of records) {
        if (r.interval !== config.interval || r.eventTime <= (lastAcknowledged.get(r.symbol) ?? -Infinity)) continue;
        lastAcknowledged.set(r.symbol, r.eventTime);
        firstOffered.delete(r.symbol);
      }
    },

    async history(symbol, range) {
      // Only bars that have ended: a backfill never publishes a bar still in progress.
      const to = Math.min(range.to, Math.floor(clock() / intervalMs(range.interval)) * intervalMs(range.interval));
      return source.bars([symbol], { from: range.from, to, interval: range.interval }, { source: 'backfill' });
    },
  };
  return source;
}

/** Rounded like a quote (cents above $1, 4 decimals below); monotone, so OHLC order survives rounding. */
function price(logPrice: number): number {
  const p = Math.exp(logPrice);
  return p >= 1 ? Math.round(p * 100) / 100 : Math.max(0.0001, Math.round(p * 10_000) / 10_000);
}
