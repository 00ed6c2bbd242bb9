// A bounded memory of event ids already published: the oldest ids are forgotten first, so a long-running
// producer's memory stays flat. A forgotten id that comes back is published again, which is harmless (same key,
// idempotent consumers), only wasteful.
export interface SeenIds {
  has(id: string): boolean;
  add(id: string): void;
  readonly size: number;
}

export function createSeenIds(capacity: number): SeenIds {
  if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer (got ${capacity})`);
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
