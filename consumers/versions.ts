// Newest wins within a batch: what a store keeps of several records of one key (row, bar, event id) handed to it at
// once, ordered as the stores order writes (consumers/types.ts SinkRecord.version). Versioned records: the highest
// version wins, and one at or below the version already kept (a redriven dead letter restating an older record, a
// redelivery) is refused, as the store would refuse it alone. A record without a version (built by hand) keeps the
// behaviour from before versions: the later one in the batch wins. A store where equal versions overwrite (the
// features of a bar: see ./postgres/features.ts) lets the later of two equal versions win (supersedesOrEquals).
import type { SinkRecord } from './types.ts';

type Versioned = { version?: number };
/** Whether `next` (later in the batch) replaces `kept`; false means the store would refuse it as stale. */
export type Supersedes = (next: Versioned, kept: Versioned) => boolean;

export const supersedes: Supersedes = (next, kept) => next.version === undefined || kept.version === undefined || next.version > kept.version;

/** As supersedes, and an equal version replaces too. */
export const supersedesOrEquals: Supersedes = (next, kept) =>
  next.version === undefined || kept.version === undefined || next.version >= kept.version;

/**
 * One record per key (null: the record names nothing, skipped), in the order of each key's first record; `stale`
 * counts the records `wins` refused.
 */
export function newestPerKey<T>(records: readonly SinkRecord<T>[], keyOf: (r: SinkRecord<T>) => string | null, wins: Supersedes = supersedes):
  { kept: SinkRecord<T>[]; stale: number } {
  const last = new Map<string, SinkRecord<T>>();
  let stale = 0;
  for (const r of records) {
    const key = keyOf(r);
    if (key === null) continue;
    const kept = last.get(key);
    if (!kept || wins(r, kept)) last.set(key, r);
    else stale++;
  }
  return { kept: [...last.values()], stale };
}

/** What names a bar: the records of price-updates and price-features. */
export interface BarKey { readonly symbol: string; readonly interval: string; readonly eventTime: number }

/**
 * The newest record per bar (symbol, interval, event time) of a batch of values (no tombstones), as `wins` decides
 * (default: the highest version). A batch rarely repeats a bar, so the common case allocates no key and copies nothing.
 */
export function newestPerBar<R extends BarKey>(records: readonly SinkRecord<R>[], wins: Supersedes = supersedes):
  { kept: readonly SinkRecord<R>[]; stale: number } {
  const seen = new Map<string, Map<string, Set<number>>>();
  let repeated = false;
  for (const { value: r } of records) {
    let bySymbol = seen.get(r!.symbol);
    if (!bySymbol) seen.set(r!.symbol, bySymbol = new Map());
    let times = bySymbol.get(r!.interval);
    if (!times) bySymbol.set(r!.interval, times = new Set());
    if (times.has(r!.eventTime)) { repeated = true; break; }
    times.add(r!.eventTime);
  }
  if (!repeated) return { kept: records, stale: 0 };
  return newestPerKey(records, ({ value: r }) => `${r!.symbol}|${r!.interval}|${r!.eventTime}`, wins);
}
