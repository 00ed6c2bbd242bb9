// Bounded memories of what the events producer already sent: the oldest entries are forgotten first, so a
// long-running producer's memory stays flat. A forgotten event that comes back is published again, which is harmless
// (same key, idempotent consumers), only wasteful.
import type { MarketEvent } from '../../schemas/types.generated.ts';
import { MAX_SYMBOLS } from '../../topics/market-event.ts';

export interface SeenIds {
  has(id: string): boolean;
  add(id: string): void;
  readonly size: number;
}

function checkCapacity(capacity: number): void {
  if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer (got ${capacity})`);
}

/** A bounded set of ids. */
export function createSeenIds(capacity: number): SeenIds {
  checkCapacity(capacity);
  const ids = new Set<string>(); // insertion order = age
  return {
    has: (id) => ids.has(id),
    add(id) {
      if (ids.has(id)) { ids.delete(id); ids.add(id); return; } // seen again: keep it longest
      ids.add(id);
      if (ids.size > capacity) ids.delete(ids.values().next().value!);
    },
    get size() { return ids.size; },
  };
}

/**
 * What was published per record key, to drop repeats (the spec's `seen` in polling-producer.ts). `admit` gives the
 * record to publish for `r`, or null when it adds nothing to what was published (and to `pending`, the record with
 * the same key accepted earlier in the same tick); `remember` is called once Kafka acknowledged the record.
 */
export interface PublishedMemory<T> {
  admit(r: T, pending: T | undefined): T | null;
  remember(r: T): void;
  readonly size: number;
}

/**
 * Event ids and the symbols published under each. A repeat of an article is dropped unless it names a symbol not yet
 * published: then the article is published again under the same id with the union of its symbols (first-published
 * order, then the new ones), so consumers see it as an update of the same event. Other changed fields alone (a
 * reworded headline) do not republish it. Symbols seen under an id only shrink when the id is forgotten.
 */
export function createPublishedEvents(capacity: number): PublishedMemory<MarketEvent> {
  checkCapacity(capacity);
  const symbolsOf = new Map<string, readonly string[]>(); // insertion order = age
  return {
    admit(r, pending) {
      const before = [...(symbolsOf.get(r.id) ?? []), ...(pending?.symbols ?? [])];
      if (!symbolsOf.has(r.id) && pending === undefined) return r;
      const known = new Set(before);
      if (known.size >= MAX_SYMBOLS || r.symbols.every((s) => known.has(s))) return null;
      return { ...r, symbols: [...new Set([...before, ...r.symbols])].slice(0, MAX_SYMBOLS) };
    },
    remember(r) {
      const union = [...new Set([...(symbolsOf.get(r.id) ?? []), ...r.symbols])];
      symbolsOf.delete(r.id); // seen again: keep it longest
      symbolsOf.set(r.id, union);
      if (symbolsOf.size > capacity) symbolsOf.delete(symbolsOf.keys().next().value!);
    },
    get size() { return symbolsOf.size; },
  };
}
