// The contract every price sink passes on price-updates (./suite.ts), with a probe per store: bars materialize and
// redelivery changes nothing; an older bar never overwrites a newer latest (and, where the store has row versions,
// never rewrites the newer bar's row); bad bars go to the DLQ; a tombstone means nothing on price-updates and is
// dead-lettered; a store outage pauses the group without skipping.
import { afterAll, beforeAll, describe } from 'vitest';
import type { StoreName } from '../../../consumers/catalog.ts';
import type { Config } from '../../../lib/config.ts';
import { bar, randomSymbol } from '../../helpers/index.ts';
import { sinkUnderTest } from './harness.ts';
import { sinkContract } from './suite.ts';

export interface StoreProbe {
  /** Everything the sink materialized for these symbols, in a canonical form (deep-equal comparable). */
  snapshot(symbols: string[]): Promise<unknown>;
  /** The snapshot without row or record versions, where the store keeps them (Scenario.values). */
  values?(symbols: string[]): Promise<unknown>;
  /** How many bars of a symbol are materialized (for a sink keeping only the latest: 1 once anything landed). */
  count(symbol: string): Promise<number>;
  /** The latest close the store shows for a symbol, or null. */
  latestClose(symbol: string): Promise<number | null>;
  /** Where the store has row versions (PostgreSQL's xmin changes whenever a row is rewritten): the version of one bar's row. */
  version?(symbol: string, eventTime: number): Promise<string | null>;
  close(): Promise<void>;
}

export function priceSinkContract(name: StoreName, openProbe: (config: Config) => Promise<StoreProbe>, opts: { keepsHistory: boolean }) {
  describe(`${name} sink contract`, () => {
    const sut = sinkUnderTest(name);
    let probe: StoreProbe;
    beforeAll(async () => { probe = await openProbe(sut.base); });
    afterAll(async () => { await probe?.close(); });
    const holds = async (symbol: string, close: number, bars: number) =>
      (await probe.latestClose(symbol)) === close && (!opts.keepsHistory || (await probe.count(symbol)) === bars);

    sinkContract(sut, {
      noun: 'bar',
      topic: 'prices',
      tombstones: 'dead-letter',
      scenario(size) {
        const symbols = [randomSymbol(), randomSymbol()];
        const bars = size === 'many' ? 30 : 2;
        const close = (k: number, i: number) => 100 * (k + 1) + i;
        return {
          records: [...Array(bars).keys()].flatMap((i) => symbols.map((s, k) => bar(s, i, close(k, i)))),
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
      invalid: (symbol) => ({ value: bar(symbol, 1, 50, { high: 10, low: 60 }), reason: /high|low/i }), // high < low
      ordering() {
        const s = randomSymbol();
        const newer = bar(s, 10, 110);
        return {
          newer: [newer],
          older: [bar(s, 2, 102, { source: 'backfill' })],
          newerHolds: async () => (await probe.latestClose(s)) === 110,
          ...(probe.version ? { newerVersion: () => probe.version!(s, newer.eventTime) } : {}),
          ...(opts.keepsHistory ? { olderKept: async () => (await probe.count(s)) === 2 } : {}),
          snapshot: () => probe.snapshot([s]),
          ...(probe.values ? { values: () => probe.values!([s]) } : {}),
        };
      },
    });
  });
}
