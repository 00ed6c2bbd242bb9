import { createPgPool } from '../../../lib/stores/postgres.ts';
import { sinkContract } from '../sink-contract.ts';

sinkContract('postgres', async (config) => {
  const pool = createPgPool(config, { max: 2 });
  return {
    urlVariable: 'POSTGRES_URL',
    async snapshot(symbols) {
      const { rows } = await pool.query(
        `SELECT symbol, interval, ts, open, high, low, close, volume, source, quality, ingested_at, xmin::text AS version
         FROM price_data WHERE symbol = ANY($1) ORDER BY symbol, interval, ts`, [symbols]);
      return rows; // xmin changes if a row was rewritten: "changes nothing" means not even an identical rewrite
    },
    async count(symbol) {
      return Number((await pool.query('SELECT count(*) FROM price_data WHERE symbol = $1', [symbol])).rows[0].count);
    },
    async latestClose(symbol) {
      const { rows } = await pool.query('SELECT close FROM price_data WHERE symbol = $1 ORDER BY ts DESC LIMIT 1', [symbol]);
      return rows[0]?.close ?? null;
    },
    close: () => pool.end(),
  };
}, { keepsHistory: true });
