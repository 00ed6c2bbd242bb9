// The contract every price-features sink passes (./suite.ts), with a probe per store: the features of each bar
// materialize and redelivery changes no value; an older bar never overwrites a newer latest; bad records go to the DLQ;
// a tombstone means nothing on price-features and is dead-lettered; a store outage pauses the group without skipping.
// Also a send with the `marketstream-source-version` header the features group sets (the version of the price-updates
// record a bar was computed from).
import { afterAll, beforeAll, describe } from 'vitest';
import type { StoreName } from '../../../consumers/catalog.ts';
import type { Config } from '../../../lib/config.ts';
import { sourceVersionHeader } from '../../../lib/record-headers.ts';
import type { PriceFeatures } from '../../../schemas/types.generated.ts';
import { featureBar, randomSymbol, warmUpBar } from '../../helpers/index.ts';
import { sinkUnderTest, type SinkUnderTest } from './harness.ts';
import type { StoreProbe } from './prices.ts';
import { sinkContract } from './suite.ts';

/** Publishes each value with the header that makes `version` its SinkRecord.version, in the order given. */
export async function sendFeatures(sut: SinkUnderTest, records: readonly (readonly [PriceFeatures, number])[]): Promise<void> {
  await sut.publisher.send(sut.topics.features, records.map(([f]) => f), {
    source: 'test', records: records.map(([, version]) => ({ headers: sourceVersionHeader(0, version) })),
  });
}

export function featuresSinkContract(name: StoreName, openProbe: (config: Config) => Promise<StoreProbe>, opts: { config?: () => Partial<Config> } = {}) {
  describe(`${name} sink contract on price-features`, () => {
    const sut = sinkUnderTest(name, opts);
    let probe: StoreProbe;
    beforeAll(async () => { probe = await openProbe(sut.base); });
    afterAll(async () => { await probe?.close(); });
    const holds = async (symbol: string, close: number, bars: number) => (await probe.latestClose(symbol)) === close && (await probe.count(symbol)) === bars;

    sinkContract(sut, {
      noun: 'bar\'s features',
      topic: 'features',
      tombstones: 'dead-letter',
      scenario(size) {
        const symbols = [randomSymbol(), randomSymbol()];
        const bars = size === 'many' ? 30 : 2;
        const close = (k: number, i: number) => 100 * (k + 1) + i;
        return {
          // The first bar of each symbol is a warm-up one: its nulls are materialized too.
          records: [...Array(bars).keys()].flatMap((i) => symbols.map((s, k) => (i === 0 ? warmUpBar(s, i, close(k, i)) : featureBar(s, i, close(k, i))))),
          keys: symbols,
          landed: async () => (await Promise.all(symbols.map((s, k) => holds(s, close(k, bars - 1), bars)))).every(Boolean),
          held: async () => {
            const counts = await Promise.all(symbols.map((s) => probe.count(s)));
            return symbols.filter((_, k) => counts[k]! > 0).sort();
          },
          snapshot: () => probe.snapshot(symbols),
          ...(probe.values ? { values: () => probe.values!(symbols) } : {}),
        };
      },
      invalid: (symbol) => ({ value: featureBar(symbol, 1, 50, { rsi: Number.NaN }), reason: /rsi/ }),
      ordering() {
        const s = randomSymbol();
        return {
          newer: [featureBar(s, 10, 110)],
          older: [featureBar(s, 2, 102)],
          newerHolds: async () => (await probe.latestClose(s)) === 110,
          olderKept: async () => (await probe.count(s)) === 2,
          snapshot: () => probe.snapshot([s]),
          ...(probe.values ? { values: () => probe.values!([s]) } : {}),
        };
      },
    });
  });
}
