// The version a store orders a record by (lib/record-headers.ts recordVersion): its offset, the offset a redriven record
// restates, or the version of the market-events record an enricher mutation came from (marketstream-source-version).
import { describe, expect, it } from 'vitest';
import { recordVersion, RecordHeaders, sourceVersionHeader, sourceVersionOf } from '../../lib/record-headers.ts';

describe('recordVersion', () => {
  it('is the offset, or the restated offset of the same partition', () => {
    expect(recordVersion('42', 1, undefined)).toBe(42);
    expect(recordVersion('42', 1, { [RecordHeaders.version]: '1:7' })).toBe(7);
    expect(recordVersion('42', 1, { [RecordHeaders.version]: Buffer.from('2:7') })).toBe(42); // another partition: ignored
  });

  it('is the source record\'s version for a record derived from one, whatever its own offset or restated version', () => {
    const h = sourceVersionHeader(3, 17);
    expect(h).toEqual({ 'marketstream-source-version': '3:17' });
    expect(recordVersion('900', 0, { ...h })).toBe(17);
    expect(recordVersion('900', 0, { ...h, [RecordHeaders.version]: '0:5' })).toBe(17);
    expect(recordVersion('900', 0, { [RecordHeaders.sourceVersion]: [Buffer.from('3:18')] })).toBe(18);
    // A stale member's re-publication of an older event record's mutations, later in the graph topic, stays older.
    expect(recordVersion('901', 0, sourceVersionHeader(3, 16))).toBeLessThan(recordVersion('900', 0, h));
  });

  it('ignores a source-version header that is not <partition>:<version>', () => {
    expect(sourceVersionOf({ [RecordHeaders.sourceVersion]: 'x' })).toBeUndefined();
    expect(recordVersion('12', 0, { [RecordHeaders.sourceVersion]: '17' })).toBe(12);
  });
});
