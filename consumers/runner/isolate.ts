// Isolation of a batch the store rejects as data: halve it (each half in offset order, the first before the second)
// until every rejected record stands alone. One bad record among n costs about 2·log2(n) writes, not n, and every
// other record is written once.

export interface Isolation<T> {
  /** Writes a slice of the batch (the runner's retried store write). */
  write(records: T[]): Promise<void>;
  /** Failures that are not the data's fault (retriable, or the batch was abandoned): thrown on, never isolated. */
  passThrough(err: unknown): boolean;
  /** The record at `index` was rejected on its own (the runner dead-letters it). */
  rejected(index: number, err: unknown): void;
  /** The whole batch was rejected: isolation starts (the runner logs it). */
  isolating?(err: unknown): void;
}

export async function writeIsolating<T>(records: readonly T[], o: Isolation<T>): Promise<void> {
  const isolate = async (from: number, to: number): Promise<void> => {
    try {
      await o.write(records.slice(from, to));
    } catch (err) {
      if (o.passThrough(err)) throw err;
      if (to - from === 1) { o.rejected(from, err); return; }
      if (to - from === records.length) o.isolating?.(err);
      const mid = from + Math.ceil((to - from) / 2);
      await isolate(from, mid);
      await isolate(mid, to);
    }
  };
  await isolate(0, records.length);
}
