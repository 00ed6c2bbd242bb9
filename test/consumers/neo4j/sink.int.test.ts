import { createNeo4jDriver } from '../../../lib/stores/neo4j.ts';
import { priceSinkContract } from '../contract/prices.ts';

priceSinkContract('neo4j', async (config) => {
  const driver = createNeo4jDriver(config);
  const read = async (symbols: string[]) => (await driver.executeQuery(
    'MATCH (c:Company:Stock) WHERE c.symbol IN $symbols RETURN c.symbol AS symbol, c.last_price AS price, toString(c.last_updated) AS updated, labels(c) AS labels ORDER BY symbol',
    { symbols })).records.map((r) => r.toObject());
  return {
    snapshot: read,
    count: async (symbol) => (await read([symbol])).length,
    latestClose: async (symbol) => ((await read([symbol]))[0]?.price as number | undefined) ?? null,
    close: () => driver.close(),
  };
}, { keepsHistory: false });
