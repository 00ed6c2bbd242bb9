// Isolation of a batch the store rejects as data, without a store: an in-memory write that rejects slices holding a bad record.
import { describe, expect, it } from 'vitest';
import { writeIsolating } from '../../../consumers/runner/isolate.ts';
import { TransientError, ValidationError } from '../../../lib/errors.ts';

/** Records 0..n-1; `bad` ones make any slice holding them fail as data. Logs each call and what was written. */
function store(bad: readonly number[], o: { fail?: (slice: number[], call: number) => Error | undefined } = {}) {
  const calls: number[][] = [];
  const written: number[] = [];
  const rejected: [number, string][] = [];
  const isolating: string[] = [];
  const isolation = {
    write: async (slice: number[]) => {
      calls.push(slice);
      const err = o.fail?.(slice, calls.length);
      if (err) throw err;
      if (slice.some((x) => bad.includes(x))) throw new ValidationError(`rejected ${slice.join(',')}`);
      written.push(...slice);
    },
    passThrough: (err: unknown) => err instanceof TransientError,
    rejected: (i: number, err: unknown) => { rejected.push([i, (err as Error).message]); },
    isolating: (err: unknown) => { isolating.push((err as Error).message); },
  };
  return { isolation, calls, written, rejected, isolating };
}
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('writeIsolating', () => {
  it('a batch the store accepts is written in one call, nothing isolated', async () => {
    const s = store([]);
    await writeIsolating(range(5), s.isolation);
    expect(s.calls).toEqual([[0, 1, 2, 3, 4]]);
    expect(s.rejected).toEqual([]);
    expect(s.isolating).toEqual([]);
  });

  it('halves a rejected batch, the first half before the second, until the bad record stands alone', async () => {
    const s = store([1]);
    await writeIsolating(range(4), s.isolation);
    expect(s.calls).toEqual([[0, 1, 2, 3], [0, 1], [0], [1], [2, 3]]);
    expect(s.written).toEqual([0, 2, 3]);
    expect(s.rejected).toEqual([[1, 'rejected 1']]); // the index in the batch, with the store's own error
    expect(s.isolating).toEqual(['rejected 0,1,2,3']); // once, for the whole batch
  });

  it('one bad record in 1,024 costs at most 2·log2(n)+1 writes; every other record is written once, in order', async () => {
    const s = store([700]);
    await writeIsolating(range(1024), s.isolation);
    expect(s.calls.length).toBeLessThanOrEqual(2 * Math.log2(1024) + 1);
    expect(s.written).toEqual(range(1024).filter((i) => i !== 700));
    expect(s.rejected.map(([i]) => i)).toEqual([700]);
  });

  it('several bad records, an odd batch: each rejected alone, in offset order, the rest written', async () => {
    const s = store([0, 3, 4]);
    await writeIsolating(range(7), s.isolation);
    expect(s.rejected.map(([i]) => i)).toEqual([0, 3, 4]);
    expect(s.written).toEqual([1, 2, 5, 6]);
    expect(s.calls[1]).toEqual([0, 1, 2, 3]); // ceil: the first half is the larger one
  });

  it('a failure that is not the data\'s fault is thrown on at once, also in the middle of an isolation, with nothing more written', async () => {
    const whole = store([], { fail: () => new TransientError('store down') });
    await expect(writeIsolating(range(4), whole.isolation)).rejects.toThrow('store down');
    expect(whole.calls).toEqual([[0, 1, 2, 3]]);
    const midway = store([2], { fail: (_slice, call) => (call === 3 ? new TransientError('store down') : undefined) });
    await expect(writeIsolating(range(4), midway.isolation)).rejects.toThrow('store down');
    expect(midway.calls).toEqual([[0, 1, 2, 3], [0, 1], [2, 3]]);
    expect(midway.rejected).toEqual([]);
  });
});
