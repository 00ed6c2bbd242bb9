// price-updates → price_data (with version 2's vwap and trades, null when absent): COPY the batch into a per-connection
// temporary staging table, then one INSERT … SELECT … ON CONFLICT from it, in one transaction. The columns, their types
// and encodings are ./price-columns.ts; every statement here is derived from that list. COPY moves rows at PostgreSQL's
// bulk-load rate; the merge keeps the upsert idempotent: a replayed record finds an identical row and the WHERE clause
// leaves it untouched (no new row version), and an older record for the same bar overwrites nothing but what it carries
// itself (one row per bar).
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Pool } from '../../lib/stores/postgres.ts';
import type { PriceUpdate } from '../../schemas/types.generated.ts';
import { PRICE_COLUMNS, type PriceColumn } from './price-columns.ts';

const names = (columns: readonly PriceColumn[], prefix = '') => columns.map((c) => prefix + c.name).join(', ');
const ALL = names(PRICE_COLUMNS);
const KEY = PRICE_COLUMNS.filter((c) => c.key);
const VALUES = PRICE_COLUMNS.filter((c) => !c.key);

/** Lives as long as its connection; emptied at each commit. Same columns and types as price_data. */
const CREATE_STAGE = `CREATE TEMP TABLE IF NOT EXISTS price_stage (${PRICE_COLUMNS.map((c) => `${c.name} ${c.type}`).join(', ')}) ON COMMIT DELETE ROWS`;

const COPY_STAGE = `COPY price_stage (${ALL}) FROM STDIN (FORMAT binary)`;

const MERGE = `
INSERT INTO price_data AS p (${ALL})
SELECT ${ALL} FROM price_stage
ON CONFLICT (${names(KEY)}) DO UPDATE SET ${VALUES.map((c) => `${c.name} = EXCLUDED.${c.name}`).join(', ')}
WHERE (${names(VALUES, 'p.')}) IS DISTINCT FROM (${names(VALUES, 'EXCLUDED.')})`;

/** Connections whose session already has the staging table. */
const staged = new WeakSet<pg.PoolClient>();
/** Rows per COPY data chunk. */
const CHUNK = 4096;
const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

/** The bars in PostgreSQL's binary COPY format, in chunks: no number is printed or parsed on either side. */
function* copyBinary(rows: readonly PriceUpdate[]): Generator<Buffer> {
  const header = Buffer.alloc(SIGNATURE.length + 8);
  SIGNATURE.copy(header);
  yield header; // flags 0, no header extension
  for (let i = 0; i < rows.length; i += CHUNK) {
    const end = Math.min(rows.length, i + CHUNK);
    let size = end === rows.length ? 2 : 0; // the trailer
    for (let j = i; j < end; j++) for (const c of PRICE_COLUMNS) size += c.size(rows[j]!);
    const b = Buffer.allocUnsafe(size + 2 * (end - i));
    let o = 0;
    for (let j = i; j < end; j++) {
      o = b.writeInt16BE(PRICE_COLUMNS.length, o);
      for (const c of PRICE_COLUMNS) o = c.write(b, o, rows[j]!);
    }
    if (end === rows.length) o = b.writeInt16BE(-1, o); // trailer
    yield b.subarray(0, o);
  }
}

/**
 * The last record per bar (symbol, interval, event time), in offset order: ON CONFLICT cannot touch a row twice in one
 * statement. A batch rarely repeats a bar, so the common case allocates no key and copies nothing.
 */
export function lastPerBar(rows: readonly PriceUpdate[]): readonly PriceUpdate[] {
  const seen = new Map<string, Map<string, Set<number>>>();
  let repeated = false;
  for (const r of rows) {
    let bySymbol = seen.get(r.symbol);
    if (!bySymbol) seen.set(r.symbol, bySymbol = new Map());
    let times = bySymbol.get(r.interval);
    if (!times) bySymbol.set(r.interval, times = new Set());
    if (times.has(r.eventTime)) { repeated = true; break; }
    times.add(r.eventTime);
  }
  if (!repeated) return rows;
  return [...new Map(rows.map((r) => [`${r.symbol}|${r.interval}|${r.eventTime}`, r])).values()];
}

/** Upserts the bars (each bar at most once) in one transaction on one pooled connection. */
export async function upsertPrices(pool: Pool, rows: readonly PriceUpdate[]): Promise<void> {
  if (rows.length === 0) return;
  const client = await pool.connect();
  let broken = false;
  // A connection lost while checked out is reported here (and by the query in flight); the pool listens only to idle ones.
  const lost = () => { broken = true; };
  client.on('error', lost);
  try {
    if (!staged.has(client)) {
      await client.query(CREATE_STAGE);
      staged.add(client);
    }
    await client.query('BEGIN');
    try {
      // The pool's query_timeout covers the COPY as any query (pg-copy-streams takes pg's timeout): a stream whose
      // connection stopped answering fails with pg's "Query read timeout", a StoreTimeoutError once classified.
      await pipeline(Readable.from(copyBinary(rows)), client.query(copyFrom(COPY_STAGE)));
      await client.query(MERGE);
      await client.query('COMMIT');
    } catch (err) {
      // Not the server refusing a statement (a query timeout, a lost connection): the connection is discarded, not
      // rolled back, since a ROLLBACK behind a call that never ended would wait its own query timeout.
      if (err instanceof pg.DatabaseError) await client.query('ROLLBACK').catch(() => { broken = true; });
      throw err;
    }
  } catch (err) {
    broken ||= !(err instanceof pg.DatabaseError); // not the server refusing a statement: the connection itself may be gone
    throw err;
  } finally {
    client.off('error', lost);
    client.release(broken);
  }
}
