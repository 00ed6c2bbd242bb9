// Newest wins within a batch (consumers/versions.ts): the highest version of a key or bar wins; with supersedesOrEquals
// (the features of a bar) the later of two equal versions does too; unversioned records keep last-write-wins.
import { describe, expect, it } from 'vitest';
import type { SinkRecord } from '../../consumers/types.ts';
import { newestPerBar, supersedes, supersedesOrEquals } from '../../consumers/versions.ts';
import type { PriceFeatures } from '../../schemas/types.generated.ts';
import { featureBar } from '../helpers/index.ts';

const rec = (i: number, rsi: number, version?: number): SinkRecord<PriceFeatures> =>
  ({ value: featureBar('AAPL', i, 100, { rsi }), key: 'AAPL', timestamp: 0, ...(version === undefined ? {} : { version }) });
const rsis = (r: { kept: readonly SinkRecord<PriceFeatures>[] }) => r.kept.map((k) => k.value!.rsi);

describe('newest per bar', () => {
  it('keeps a batch without repeated bars as it is', () => {
    const batch = [rec(0, 1, 1), rec(1, 2, 2)];
    expect(newestPerBar(batch).kept).toBe(batch);
  });

  it('the highest version of a bar wins wherever it sits; an equal one is stale unless equal versions overwrite', () => {
    const batch = [rec(0, 40, 4), rec(0, 90, 9), rec(1, 70, 6), rec(0, 45, 5), rec(0, 91, 9)];
    expect(newestPerBar(batch, supersedes)).toMatchObject({ stale: 2 }); // v5 and the second v9 refused (v4 is replaced, not refused)
    expect(rsis(newestPerBar(batch, supersedes))).toEqual([90, 70]);
    expect(newestPerBar(batch, supersedesOrEquals)).toMatchObject({ stale: 1 });
    expect(rsis(newestPerBar(batch, supersedesOrEquals))).toEqual([91, 70]);
  });

  it('records without a version: the later one wins', () => {
    expect(rsis(newestPerBar([rec(0, 1), rec(0, 2)], supersedesOrEquals))).toEqual([2]);
    expect(rsis(newestPerBar([rec(0, 1, 3), rec(0, 2)]))).toEqual([2]);
  });
});
