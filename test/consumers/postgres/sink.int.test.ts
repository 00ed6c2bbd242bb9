import { describe, expect, it } from 'vitest';
import { createPostgresSink } from '../../../consumers/postgres/sink.ts';
import { loadConfig } from '../../../lib/config.ts';
import { createPgPool } from '../../../lib/stores/postgres.ts';
import { bar, randomSymbol } from '../../helpers/index.ts';
import { priceSinkContract } from '../contract/prices.ts';

// xmin changes whenever a row is rewritten: "changes nothing" means not even an identical rewrite.
priceSinkContract('postgres', async (config) => {
  const pool = createPgPool(config, { max: 2 });
  return {
    async snapshot(symbols) {
      const { rows } = await pool.query(
        `SELECT symbol, interval, ts, open, high, low, close, volume, source, quality, ingested_at, xmin::text AS version
         FROM price_data WHERE symbol = ANY($1) ORDER BY symbol, interval, ts`, [symbols]);
      return rows;
    },
    async count(symbol) {
      return Number((await pool.query('SELECT count(*) FROM price_data WHERE symbol = $1', [symbol])).rows[0].count);
    },
    async latestClose(symbol) {
      const { rows } = await pool.query('SELECT close FROM price_data WHERE symbol = $1 ORDER BY ts DESC LIMIT 1', [symbol]);
      return rows[0]?.close ?? null;
    },
    async version(symbol, eventTime) {
      const { rows } = await pool.query(
        `SELECT xmin::text AS version FROM price_data WHERE symbol = $1 AND interval = '1h' AND ts = to_timestamp($2 / 1000.0)`, [symbol, eventTime]);
      return rows[0]?.version ?? null;
    },
    close: () => pool.end(),
  };
}, { keepsHistory: true });

describe('postgres-sink, price-update version 2', () => {
  it('writes vwap and trades to their columns (migration 006), NULL for a bar without them', async () => {
    const config = loadConfig();
    const sink = createPostgresSink(config);
    await sink.connect(); // applies the migrations
    const s = randomSymbol();
    try {
      await sink.handlers[0]!.writeBatch([
        bar(s, 0, 100, { vwap: 100.25, trades: 42 }),
        bar(s, 1, 101),
      ].map((value) => ({ value, key: s, timestamp: Date.now() })));
      const pool = createPgPool(config, { max: 1 });
      const { rows } = await pool.query('SELECT vwap, trades::text AS trades FROM price_data WHERE symbol = $1 ORDER BY ts', [s]);
      await pool.end();
      expect(rows).toEqual([{ vwap: 100.25, trades: '42' }, { vwap: null, trades: null }]);
    } finally {
      await sink.close();
    }
  });
});
