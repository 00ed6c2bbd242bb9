// What the live market-data providers (yahoo, alphavantage, twelvedata) share: their mode (completed intraday bars or
// quotes), bar interval and look-back, the cursor that makes a poll repeat nothing published and everything not, and
// asking the provider symbol by symbol, where a symbol it fails for is skipped this poll (and offered to the next
// source of a chain) unless it failed for all of them.
import { z } from 'zod';
import { errorMessage } from '../../lib/errors.ts';
import type { Logger } from '../../lib/logger.ts';
import { wallTimeToUtc } from '../../lib/time-zone.ts';
import type { PriceSource, PriceUpdate } from '../../schemas/types.generated.ts';
import { intervalMs, QUALITY } from '../../topics/price-update.ts';

/** Config fields of every live provider (spread into its schema). */
export const liveFeedFields = {
  mode: z.enum(['bars', 'quote']).default('bars')
    .describe('bars: completed intraday bars; quote: one tick per symbol with the session-to-date open/high/low and volume'),
  barInterval: z.enum(['1m', '5m']).default('1m').describe('Interval of the intraday bars in bars mode'),
  lookbackMinutes: z.number().int().min(1).max(60 * 24 * 7).default(15).describe('How far back each bars request reaches (covers missed polls)'),
};
export type LiveFeedConfig = z.output<z.ZodObject<typeof liveFeedFields>>;

/**
 * Per symbol and interval: the newest event time whose publication Kafka acknowledged. Moved by acknowledge(), never by
 * fetch, and by the records of any source (a chain acknowledges every member), so a provider that takes over or takes
 * back offers only the bars after the last one published.
 */
export function createCursor() {
  const last = new Map<string, number>();
  const key = (symbol: string, interval: string) => `${symbol}\n${interval}`;
  return {
    /** Whether a record at `eventTime` is past what was published for its symbol and interval. */
    isNew: (symbol: string, interval: string, eventTime: number) => eventTime > (last.get(key(symbol, interval)) ?? -Infinity),
    acknowledge(records: readonly Pick<PriceUpdate, 'symbol' | 'interval' | 'eventTime'>[]) {
      for (const r of records) {
        const k = key(r.symbol, r.interval);
        if (r.eventTime > (last.get(k) ?? -Infinity)) last.set(k, r.eventTime);
      }
    },
  };
}
export type Cursor = ReturnType<typeof createCursor>;

/**
 * Whether the bar starting at `start` may be published at `now`: whole, aligned, ended, past the cursor and, for a
 * provider that answers more than was asked (a fixed count of bars), within the look-back. Yahoo's chart answers from
 * the look-back's start already.
 */
export function publishableBar(config: Pick<LiveFeedConfig, 'barInterval' | 'lookbackMinutes'>, cursor: Cursor, symbol: string, start: number,
  now: number, o: { lookback: boolean }): boolean {
  const ms = intervalMs(config.barInterval);
  // The last entry is often the bar in progress, stamped with its start like the others.
  if (start % ms !== 0 || start + ms > now || !cursor.isNew(symbol, config.barInterval, start)) return false;
  return !o.lookback || start >= now - config.lookbackMinutes * 60_000;
}

/**
 * `fetchOne` for each symbol, at once (the provider's client paces them): the records of those that answered, and the
 * symbols that failed in `failed`. Throws the first error when every symbol failed, so the poll counts as failed.
 */
export async function fetchEachSymbol(symbols: readonly string[], fetchOne: (symbol: string) => Promise<PriceUpdate[]>, o: {
  logger: Logger; provider: string; failed: (symbol: string) => void;
}): Promise<PriceUpdate[]> {
  const settled = await Promise.allSettled(symbols.map(fetchOne));
  const failures = settled.flatMap((r, i) => (r.status === 'rejected' ? [{ symbol: symbols[i]!, err: r.reason as unknown }] : []));
  if (failures.length > 0 && failures.length === symbols.length) throw failures[0]!.err;
  for (const f of failures) {
    o.failed(f.symbol);
    o.logger.warn({ symbol: f.symbol, err: errorMessage(f.err) },
      `${o.provider} request failed for this symbol: left to the next source of a chain, or to the next poll`);
  }
  return settled.flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
}

/**
 * A quote as a tick: its open/high/low are the session's to date, which hold every price traded in it, so a day range
 * that lags the last price is widened to take in the open and the price (schemas/README.md, "Bars and ticks"); a field
 * the provider left out is filled in from the price (volume: 0) and the tick's quality says so.
 */
export function tickOf(q: { symbol: string; time: number; price: number; open?: number; high?: number; low?: number; volume?: number;
  source: PriceSource; now: number }): PriceUpdate {
  const open = q.open ?? q.price;
  const complete = q.open !== undefined && q.high !== undefined && q.low !== undefined && q.volume !== undefined;
  return {
    symbol: q.symbol, interval: 'tick', eventTime: q.time,
    open, high: Math.max(q.high ?? -Infinity, open, q.price), low: Math.min(q.low ?? Infinity, open, q.price), close: q.price,
    volume: q.volume ?? 0, source: q.source, ingestTime: q.now, quality: complete ? QUALITY.complete : QUALITY.filled,
  };
}

/** What a fetch hands over besides its records, once (rejected inputs, failed symbols): collected, then taken. */
export function createHandOff<T>() {
  let items: T[] = [];
  return {
    push: (item: T) => { items.push(item); },
    take: (): T[] => {
      const taken = items;
      items = [];
      return taken;
    },
  };
}

/** "2026-10-02 14:05:00" (or a date alone) as wall time in `timeZone` → epoch ms; NaN when unreadable. */
export function parseWallTime(stamp: string, timeZone: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?$/.exec(stamp.trim());
  if (!m) return Number.NaN;
  const [y, mo, d, h = '0', mi = '0', s = '0'] = m.slice(1);
  const wall = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  return timeZone === 'UTC' ? wall : wallTimeToUtc(wall, timeZone);
}

/** A number the provider sent as a JSON string ("189.9850") or number; undefined when absent or not a finite number. */
export function numberField(v: unknown): number | undefined {
  if (typeof v !== 'string' && typeof v !== 'number') return undefined;
  if (typeof v === 'string' && v.trim() === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}
