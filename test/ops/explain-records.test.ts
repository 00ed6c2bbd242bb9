// ops/explain/records without a broker: which refs the log cannot hold (and why), and the ranges read for the others.
import { describe, expect, it } from 'vitest';
import { absence, rangesFor } from '../../ops/explain/records.ts';

describe('explain: reading records back', () => {
  const bounds = [{ partition: 0, low: '5', high: '10' }];
  const ref = (partition: number, offset: string, topic = 't') => ({ topic, partition, offset });

  it('names why a record cannot be in the log: no topic, no partition, removed, past the end', () => {
    expect(absence(ref(0, '7'), null)).toBe('topic t does not exist (any more)');
    expect(absence(ref(1, '7'), bounds)).toBe('t has no partition 1');
    expect(absence(ref(0, '4'), bounds)).toBe('removed from the log (the partition now starts at offset 5: retention or deleteRecords)');
    expect(absence(ref(0, '10'), bounds)).toBe('not in the log (the partition ends at offset 10)');
    expect(absence(ref(0, '5'), bounds)).toBeNull();
    expect(absence(ref(0, '9'), bounds)).toBeNull();
  });

  it('reads each partition from its lowest to its highest offset wanted', () => {
    expect(rangesFor([ref(0, '7'), ref(0, '3'), ref(1, '2'), ref(0, '9'), ref(0, '1', 'u')])).toEqual([
      { topic: 't', partition: 0, start: 3n, end: 10n },
      { topic: 't', partition: 1, start: 2n, end: 3n },
      { topic: 'u', partition: 0, start: 1n, end: 2n },
    ]);
  });
});
