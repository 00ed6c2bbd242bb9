import { describe, expect, it } from 'vitest';
import { createNeo4jSink } from '../../../consumers/neo4j/sink.ts';
import { loadConfig } from '../../../lib/config.ts';
import { createNeo4jDriver } from '../../../lib/stores/neo4j.ts';
import { bar, randomSymbol } from '../../helpers/index.ts';
import { priceSinkContract } from '../contract/prices.ts';

priceSinkContract('neo4j', async (config) => {
  const driver = createNeo4jDriver(config);
  const read = async (symbols: string[]) => (await driver.executeQuery(
    'MATCH (c:Company:Stock) WHERE c.symbol IN $symbols ' +
      'RETURN c.symbol AS symbol, c.last_price AS price, toString(c.last_updated) AS updated, labels(c) AS labels ORDER BY symbol',
    { symbols })).records.map((r) => r.toObject());
  return {
    snapshot: read,
    count: async (symbol) => (await read([symbol])).length,
    latestClose: async (symbol) => ((await read([symbol]))[0]?.price as number | undefined) ?? null,
    close: () => driver.close(),
  };
}, { keepsHistory: false });

describe('neo4j-sink, price-update version 2', () => {
  it('sets last_vwap and last_trades on the Stock with the latest price, and removes them when the latest bar has none', async () => {
    const config = loadConfig();
    const sink = createNeo4jSink(config);
    await sink.connect();
    const driver = createNeo4jDriver(config);
    const s = randomSymbol();
    const write = (...bars: ReturnType<typeof bar>[]) => sink.handlers[0]!.writeBatch(bars.map((value) => ({ value, key: s, timestamp: Date.now() })));
    const read = async () => (await driver.executeQuery(
      'MATCH (c:Company:Stock {symbol: $s}) RETURN c.last_price AS price, c.last_vwap AS vwap, c.last_trades AS trades', { s }))
      .records.map((r) => r.toObject());
    try {
      await write(bar(s, 0, 10, { vwap: 10.25, trades: 42 }), bar(s, 1, 11, { vwap: 11.5, trades: 7 }));
      const [got] = await read();
      expect(got).toMatchObject({ price: 11, vwap: 11.5 });
      expect(Number(got!.trades)).toBe(7);
      await write(bar(s, 2, 12));
      expect(await read()).toEqual([{ price: 12, vwap: null, trades: null }]);
      await write(bar(s, 1, 11, { vwap: 11.5, trades: 7 })); // older: changes nothing
      expect(await read()).toEqual([{ price: 12, vwap: null, trades: null }]);
    } finally {
      await driver.executeQuery('MATCH (c:Company {symbol: $s}) DETACH DELETE c', { s });
      await driver.close();
      await sink.close();
    }
  });
});


describe('neo4j-sink, NEO4J_DATABASE', () => {
  it('uses the database it names: one the server does not have fails the start, naming it', async () => {
    const database = `nosuch${randomSymbol().toLowerCase()}`;
    const sink = createNeo4jSink(loadConfig({ ...process.env, NEO4J_DATABASE: database }));
    try {
      await expect(sink.connect()).rejects.toThrow(new RegExp(database));
    } finally {
      await sink.close();
    }
  });
});
