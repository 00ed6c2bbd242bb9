// Shared record builders for tests: price bars, their features and market events with random keys, so tests running at
// the same time never touch each other's rows. Graph mutations are built with the product's own builders (topics/graph-model.ts).
import { randomUUID } from 'node:crypto';
import type { Pool } from '../../lib/stores/postgres.ts';
import type { MarketEvent, PriceFeatures, PriceUpdate } from '../../schemas/types.generated.ts';
import { randomName } from './random.ts';

export const HOUR = 3_600_000;
/** Event time of bar 0: 2026-01-05 14:00 UTC. */
export const BAR_T0 = Date.UTC(2026, 0, 5, 14, 0, 0);

/** Hourly bar number `i` of `symbol` (event time BAR_T0 + i hours) closing at `close`; `over` replaces fields. */
export function bar(symbol: string, i: number, close: number, over: Partial<PriceUpdate> = {}): PriceUpdate {
  return { symbol, interval: '1h', eventTime: BAR_T0 + i * HOUR, open: close - 1, high: close + 2, low: close - 2, close, volume: 1000 + i, source: 'synthetic',
    ingestTime: BAR_T0 + i * HOUR + 5000, quality: 1, vwap: null, trades: null, final: null, adjusted: null, ...over };
}

/** The definition featureBar's records carry. */
export const DEFINITION = 'SMA(20) EMA(12,26) MACD(12,26,9) RSI(14) BBANDS(20,2) ATR(14) STDDEV(LN,20) VWAP(session)';

/**
 * The features of hourly bar `i` of `symbol` (event time BAR_T0 + i hours) closing at `close`, every value known and
 * none a round number (0.1 + 0.2, 100 / 3: a store that prints or parses them loses bits); `over` replaces fields.
 */
export function featureBar(symbol: string, i: number, close: number, over: Partial<PriceFeatures> = {}): PriceFeatures {
  return {
    symbol, interval: '1h', eventTime: BAR_T0 + i * HOUR, bars: 40 + i, close, definition: DEFINITION,
    sma: close - 0.1 - 0.2, emaFast: close + 100 / 3, emaSlow: close - 100 / 7, macd: 0.1 + 0.2, macdSignal: -1 / 3, macdHistogram: 0.1 + 0.2 + 1 / 3,
    rsi: 100 / 3 + i, bollingerUpper: close + Math.PI, bollingerMiddle: close + Math.E, bollingerLower: close - Math.SQRT2, atr: 1 / 9,
    logReturn: Math.log(close / (close - 1)), realizedVolatility: Math.sqrt(2) / 1000, vwap: close - 1 / 11,
    computedAt: BAR_T0 + (i + 1) * HOUR + 250, ...over,
  };
}

/** A bar no indicator has enough bars for yet: every value null. */
export function warmUpBar(symbol: string, i: number, close: number): PriceFeatures {
  return featureBar(symbol, i, close, {
    bars: 1, sma: null, emaFast: null, emaSlow: null, macd: null, macdSignal: null, macdHistogram: null, rsi: null, bollingerUpper: null,
    bollingerMiddle: null, bollingerLower: null, atr: null, logReturn: null, realizedVolatility: null, vwap: null,
  });
}

/** A ticker no real company and no other test uses: `T` + 8 random hex digits, upper case. */
export function randomSymbol(): string {
  return `T${randomUUID().replace(/-/g, '').slice(0, 8).toUpperCase()}`;
}

/** Published time of the events newEvent builds: 2026-11-20 14:30 UTC (ingested a minute later). */
export const EVENT_T0 = Date.UTC(2026, 10, 20, 14, 30);

/** A valid market event with a random id (`evt-…`, also in its headline and URL) about AAPL and MSFT; `over` replaces fields. */
export function newEvent(over: Partial<MarketEvent> = {}): MarketEvent {
  const id = over.id ?? randomName('evt');
  return {
    id, symbols: ['AAPL', 'MSFT'], headline: `Apple and Microsoft news ${id}`, summary: 'Both rose.', source: 'Test Wire',
    url: `https://example.com/${id}`, publishedAt: EVENT_T0, category: 'Markets', ingestTime: EVENT_T0 + 60_000, ...over,
  };
}

/** A newEvent with other defaults that remembers every id it made, to remove their rows after the tests (deleteEventRows). */
export function eventFactory(defaults: Partial<MarketEvent> = {}): { ids: string[]; newEvent(over?: Partial<MarketEvent>): MarketEvent } {
  const ids: string[] = [];
  return {
    ids,
    newEvent(over = {}) {
      const e = newEvent({ ...defaults, ...over });
      ids.push(e.id);
      return e;
    },
  };
}

/** Removes what the sinks stored in PostgreSQL for these events: market_events rows, tombstones and cached classifications. */
export async function deleteEventRows(pool: Pool, ids: readonly string[]): Promise<void> {
  await pool.query('DELETE FROM market_events WHERE id = ANY($1)', [ids]).catch(() => {});
  await pool.query('DELETE FROM market_event_tombstones WHERE id = ANY($1)', [ids]).catch(() => {});
  await pool.query('DELETE FROM event_classifications WHERE event_id = ANY($1)', [ids]).catch(() => {});
}
