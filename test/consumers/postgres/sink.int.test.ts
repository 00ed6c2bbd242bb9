import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { createPostgresSink } from '../../../consumers/postgres/sink.ts';
import { loadConfig } from '../../../lib/config.ts';
import { createPgPool } from '../../../lib/stores/postgres.ts';
import { bar, randomSymbol, waitFor } from '../../helpers/index.ts';
import { priceSinkContract } from '../contract/prices.ts';

// xmin changes whenever a row is rewritten: "changes nothing" means not even an identical rewrite. `version` is the
// version of the record that wrote the row.
priceSinkContract('postgres', async (config) => {
  const pool = createPgPool(config, { max: 2 });
  const select = async (symbols: string[], versions: string) => (await pool.query(
    `SELECT symbol, interval, ts, open, high, low, close, volume, source, quality, ingested_at${versions}
     FROM price_data WHERE symbol = ANY($1) ORDER BY symbol, interval, ts`, [symbols])).rows;
  return {
    snapshot: (symbols) => select(symbols, ', xmin::text AS xmin, version::text AS version'),
    values: (symbols) => select(symbols, ''),
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

describe('postgres-sink, POSTGRES_SINK_POOL_SIZE', () => {
  it('writes with at most that many connections: with 2, two of four concurrent batches wait for the others', async () => {
    const config = loadConfig({ ...process.env, POSTGRES_SINK_POOL_SIZE: '2' });
    const sink = createPostgresSink(config);
    const admin = createPgPool(config, { max: 2 });
    const s = randomSymbol();
    const write = (i: number, close: number) => sink.handlers[0]!.writeBatch([{ value: bar(s, i, close), key: s, timestamp: Date.now() }]);
    const locker = await admin.connect();
    try {
      await sink.connect();
      await Promise.all([0, 1, 2, 3].map((i) => write(i, 100)));
      // Hold the four rows: each batch then waits on this transaction, holding one of the sink's connections.
      await locker.query('BEGIN');
      await locker.query('SELECT 1 FROM price_data WHERE symbol = $1 FOR UPDATE', [s]);
      const lockerPid = (await locker.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      const blocked = async () => Number((await admin.query(
        'SELECT count(*) AS n FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))', [lockerPid])).rows[0].n);
      const writes = [0, 1, 2, 3].map((i) => write(i, 200));
      await waitFor(async () => (await blocked()) >= 2, { what: 'two batches waiting on the locked rows' });
      await sleep(500); // time for a third connection to open and block, were the pool larger
      expect(await blocked()).toBe(2);
      await locker.query('ROLLBACK');
      await Promise.all(writes);
      const { rows } = await admin.query('SELECT close FROM price_data WHERE symbol = $1 ORDER BY ts', [s]);
      expect(rows.map((r) => r.close)).toEqual([200, 200, 200, 200]);
    } finally {
      await locker.query('ROLLBACK').catch(() => {});
      locker.release();
      await sink.close();
      await admin.query('DELETE FROM price_data WHERE symbol = $1', [s]);
      await admin.end();
    }
  });
});
