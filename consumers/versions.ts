// Newest wins within a batch: what a store keeps of several records of one key (row, bar, event id) handed to it at
// once, ordered as the stores order writes (consumers/types.ts SinkRecord.version). Versioned records: the highest
// version wins, and one at or below the version already kept (a redriven dead letter restating an older record, a
// redelivery) is refused, as the store would refuse it alone. A record without a version (built by hand) keeps the
// behaviour from before versions: the later one in the batch wins.
import type { SinkRecord } from './types.ts';

/** Whether `next` (later in the batch) replaces `kept`; false means the store would refuse it as stale. */
export function supersedes(next: { version?: number }, kept: { version?: number }): boolean {
  return next.version === undefined || kept.version === undefined || next.version > kept.version;
}

/**
 * One record per key (null: the record names nothing, skipped), in the order of each key's first record; `stale`
 * counts the records refused for an equal or higher version kept.
 */
export function newestPerKey<T>(records: readonly SinkRecord<T>[], keyOf: (r: SinkRecord<T>) => string | null):
  { kept: SinkRecord<T>[]; stale: number } {
  const last = new Map<string, SinkRecord<T>>();
  let stale = 0;
  for (const r of records) {
    const key = keyOf(r);
    if (key === null) continue;
    const kept = last.get(key);
    if (!kept || supersedes(r, kept)) last.set(key, r);
    else stale++;
  }
  return { kept: [...last.values()], stale };
}
