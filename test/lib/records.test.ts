// lib/records without a broker: where ranges start and end (planRange, startOffsets), and which records of a fetched
// batch the reader delivers (RangeProgress). Reading against the real Kafka is covered by its callers' integration tests
// (explain, inspect tail, dlq redrive, replay --event-time, rebuild, and every test reading through test/helpers/kafka).
import type { KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { planRange, RangeProgress, startOffsets, throwawayGroup, type LogRange } from '../../lib/records.ts';

const bounds = [{ partition: 0, low: '10', high: '20' }, { partition: 1, low: '0', high: '3' }];
const range = (partition: number, start: bigint, end: bigint | null): LogRange => ({ topic: 't', partition, start, end });
const msg = (offset: number) => ({ offset: String(offset) }) as KafkaMessage;

/** Runs a batch through the progress as the reader does: offsets delivered, then the batch's end. */
function feed(p: RangeProgress, partition: number, offsets: number[]): number[] {
  const out: number[] = [];
  for (const m of offsets.map(msg)) {
    const wanted = p.wants('t', partition, BigInt(m.offset));
    if (wanted === 'past') break;
    if (!wanted) continue;
    p.delivered('t', partition, BigInt(m.offset));
    out.push(Number(m.offset));
  }
  p.batchEnd('t', partition, BigInt(offsets.at(-1)!));
  return out;
}

describe('planRange', () => {
  it('clamps the start into the partition and ends at its end now, or is open', () => {
    expect(planRange('t', bounds[0]!, 5n)).toEqual(range(0, 10n, 20n));
    expect(planRange('t', bounds[0]!, 15n)).toEqual(range(0, 15n, 20n));
    expect(planRange('t', bounds[0]!, 99n)).toEqual(range(0, 20n, 20n));
    expect(planRange('t', bounds[0]!, 12n, 'open')).toEqual(range(0, 12n, null));
  });

  it('a partition with no start (no record at or after a time) starts at its end', () => {
    expect(planRange('t', bounds[1]!, null)).toEqual(range(1, 3n, 3n));
  });
});

describe('startOffsets', () => {
  it('earliest: each partition\'s low offset', () => {
    expect(startOffsets('earliest', bounds)).toEqual(new Map([[0, 10n], [1, 0n]]));
  });

  it('the last N: N before the end (planRange clamps a short partition to its start)', () => {
    const starts = startOffsets({ last: 5 }, bounds);
    expect(starts).toEqual(new Map([[0, 15n], [1, -2n]]));
    expect(planRange('t', bounds[1]!, starts.get(1)!)).toEqual(range(1, 0n, 3n));
  });

  it('a time: the broker\'s offset per partition, none where it gave none', () => {
    expect(startOffsets({ time: 1 }, bounds, new Map([[0, '17']]))).toEqual(new Map([[0, 17n], [1, null]]));
  });

  it('a group: its committed offset, the earliest where it committed none (-1)', () => {
    expect(startOffsets({ group: 'g' }, bounds, new Map([[0, '12'], [1, '-1']]))).toEqual(new Map([[0, 12n], [1, 0n]]));
  });
});

describe('RangeProgress', () => {
  it('delivers a bounded range once, from its start to before its end, and is then complete', () => {
    const p = new RangeProgress([range(0, 12n, 15n)]);
    expect(p.complete).toBe(false);
    expect(feed(p, 0, [10, 11, 12, 13])).toEqual([12, 13]);
    expect(p.pending()).toEqual([{ ...range(0, 12n, 15n), next: 14n, done: false }]);
    expect(feed(p, 0, [13, 14, 15, 16])).toEqual([14]); // 13 again (a refetch) is not delivered twice
    expect(p.isDone('t', 0)).toBe(true);
    expect(p.complete).toBe(true);
    expect(p.records).toBe(3);
  });

  it('a batch that passes the end without a record at the end (a compacted or marker offset) completes the range', () => {
    const p = new RangeProgress([range(0, 0n, 5n)]);
    expect(feed(p, 0, [0, 1, 2])).toEqual([0, 1, 2]);
    p.batchEnd('t', 0, 4n); // offsets 3 and 4 hold no record
    expect(p.complete).toBe(true);
  });

  it('empty ranges are left out, so a read of nothing is complete at once', () => {
    const p = new RangeProgress([range(0, 20n, 20n), range(1, 3n, 3n)]);
    expect(p.complete).toBe(true);
    expect(p.pending()).toEqual([]);
  });

  it('finish() ends a partition early; other partitions go on', () => {
    const p = new RangeProgress([range(0, 10n, 20n), range(1, 0n, 3n)]);
    p.finish('t', 0);
    expect(p.wants('t', 0, 11n)).toBe('past');
    expect(p.complete).toBe(false);
    expect(feed(p, 1, [0, 1, 2])).toEqual([0, 1, 2]);
    expect(p.complete).toBe(true);
  });

  it('an open range never completes', () => {
    const p = new RangeProgress([range(0, 0n, null)]);
    expect(feed(p, 0, [0, 1, 2, 3])).toEqual([0, 1, 2, 3]);
    expect(p.complete).toBe(false);
    expect(p.caughtUp).toBe(true);
  });

  it('following: records past the end are delivered too, the ranges are caught up at their ends and never complete', () => {
    const p = new RangeProgress([range(0, 18n, 20n), range(1, 3n, 3n)], { follow: true });
    expect(p.pending().map((r) => r.partition)).toEqual([0, 1]); // an empty range is still followed
    expect(p.caughtUp).toBe(false);
    expect(feed(p, 0, [18])).toEqual([18]);
    expect(p.caughtUp).toBe(false);
    expect(feed(p, 0, [19, 20, 21])).toEqual([19, 20, 21]);
    expect(p.caughtUp).toBe(true);
    expect(p.complete).toBe(false);
  });

  it('a partition outside the ranges is never delivered', () => {
    const p = new RangeProgress([range(0, 10n, 20n)]);
    expect(p.wants('t', 1, 0n)).toBe('past');
    expect(p.wants('other', 0, 10n)).toBe('past');
    expect(p.isDone('t', 1)).toBe(true);
  });
});

describe('throwawayGroup', () => {
  it('is named by prefix and purpose, different each time', () => {
    const a = throwawayGroup('marketstream', 'explain');
    expect(a).toEqual({ throwaway: expect.stringMatching(/^marketstream\.explain-[0-9a-f]{8}$/) });
    expect(throwawayGroup('marketstream', 'explain')).not.toEqual(a);
  });
});
