// Shared record builders for tests: price bars and market events with random keys, so tests running at the same time
// never touch each other's rows. Graph mutations are built with the product's own builders (topics/graph-model.ts).
import { randomUUID } from 'node:crypto';
import type { Pool } from '../../lib/stores/postgres.ts';
import type { MarketEvent, PriceUpdate } from '../../schemas/types.generated.ts';
import { randomName } from './random.ts';

export const HOUR = 3_600_000;
/** Event time of bar 0: 2026-01-05 14:00 UTC. */
export const BAR_T0 = Date.UTC(2026, 0, 5, 14, 0, 0);

/** Hourly bar number `i` of `symbol` (event time BAR_T0 + i hours) closing at `close`; `over` replaces fields. */
export function bar(symbol: string, i: number, close: number, over: Partial<PriceUpdate> = {}): PriceUpdate {
  return { symbol, interval: '1h', eventTime: BAR_T0 + i * HOUR, open: close - 1, high: close + 2, low: close - 2, close, volume: 1000 + i, source: 'synthetic',
    ingestTime: BAR_T0 + i * HOUR + 5000, quality: 1, vwap: null, trades: null, ...over };
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
