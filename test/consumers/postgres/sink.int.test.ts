import { createPgPool } from '../../../lib/stores/postgres.ts';
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
