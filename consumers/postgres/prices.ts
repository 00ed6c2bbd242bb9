// price-updates → price_data (with version 2's vwap and trades, null when absent): COPY the batch into a per-connection
// temporary staging table, then one INSERT … SELECT … ON CONFLICT from it, in one transaction. The columns, their types
// and encodings are ./price-columns.ts; every statement here is derived from that list. COPY moves rows at PostgreSQL's
// bulk-load rate. Newest wins (migration 007): each row keeps the version of the record that wrote it, and the merge
// updates a row only when the incoming version is greater (or the row has none), so a stale writer (a member that lost
// the partition while its write was in flight), a redrive or a replay never puts an older revision of a bar over a
// newer one; a replayed record (equal version) leaves the row untouched (no new row version). ON CONFLICT DO UPDATE
// re-checks that WHERE against the latest committed row once it holds the row's lock, so two writers of the same bars
// at once cannot lose the newer value; the staged rows are merged in key order, so they take row locks in the same
// order and cannot deadlock. Bars without a version (built by hand) keep last-write-wins, skipping identical rows.
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Pool } from '../../lib/stores/postgres.ts';
import type { PriceUpdate } from '../../schemas/types.generated.ts';
import type { SinkRecord, WriteResult } from '../types.ts';
import { newestPerKey } from '../versions.ts';
import { inTransaction } from './transaction.ts';
import { PRICE_COLUMNS, VERSION_COLUMN as V, type PriceColumn } from './price-columns.ts';

const names = (columns: readonly PriceColumn[], prefix = '') => columns.map((c) => prefix + c.name).join(', ');
const ALL = names(PRICE_COLUMNS);
const KEY = PRICE_COLUMNS.filter((c) => c.key);
const VALUES = PRICE_COLUMNS.filter((c) => !c.key);

/** Lives as long as its connection; emptied at each commit. Same columns and types as price_data, and the version. */
const CREATE_STAGE = `CREATE TEMP TABLE IF NOT EXISTS price_stage_v (${PRICE_COLUMNS.map((c) => `${c.name} ${c.type}`).join(', ')}, ${V} int8)
  ON COMMIT DELETE ROWS`;

const COPY_STAGE = `COPY price_stage_v (${ALL}, ${V}) FROM STDIN (FORMAT binary)`;

/** One row back: how many versioned bars the merge wrote (the others were stale). */
const MERGE = `
WITH merged AS (
  INSERT INTO price_data AS p (${ALL}, ${V})
  SELECT ${ALL}, ${V} FROM price_stage_v ORDER BY ${names(KEY)}
  ON CONFLICT (${names(KEY)}) DO UPDATE SET ${VALUES.map((c) => `${c.name} = EXCLUDED.${c.name}`).join(', ')}, ${V} = EXCLUDED.${V}
  WHERE CASE WHEN EXCLUDED.${V} IS NULL THEN (${names(VALUES, 'p.')}) IS DISTINCT FROM (${names(VALUES, 'EXCLUDED.')})
             ELSE p.${V} IS NULL OR EXCLUDED.${V} > p.${V} END
  RETURNING p.${V} AS v)
SELECT count(*)::int AS written FROM merged WHERE v IS NOT NULL`;

/** Connections whose session already has the staging table. */
const staged = new WeakSet<pg.PoolClient>();
/** Rows per COPY data chunk. */
const CHUNK = 4096;
const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

/** The bars and their versions (null: none) in PostgreSQL's binary COPY format, in chunks: no number is printed or parsed. */
function* copyBinary(rows: readonly PriceUpdate[], versions: readonly (number | null)[] | undefined): Generator<Buffer> {
  const fields = PRICE_COLUMNS.length + 1;
  const header = Buffer.alloc(SIGNATURE.length + 8);
  SIGNATURE.copy(header);
  yield header; // flags 0, no header extension
  for (let i = 0; i < rows.length; i += CHUNK) {
    const end = Math.min(rows.length, i + CHUNK);
    let size = end === rows.length ? 2 : 0; // the trailer
    for (let j = i; j < end; j++) {
      for (const c of PRICE_COLUMNS) size += c.size(rows[j]!);
      size += versions?.[j] == null ? 4 : 12;
    }
    const b = Buffer.allocUnsafe(size + 2 * (end - i));
    let o = 0;
    for (let j = i; j < end; j++) {
      o = b.writeInt16BE(fields, o);
      for (const c of PRICE_COLUMNS) o = c.write(b, o, rows[j]!);
      const v = versions?.[j];
      if (v == null) o = b.writeInt32BE(-1, o);
      else o = b.writeBigInt64BE(BigInt(v), b.writeInt32BE(8, o));
    }
    if (end === rows.length) o = b.writeInt16BE(-1, o); // trailer
    yield b.subarray(0, o);
  }
}

/**
 * The newest record per bar (symbol, interval, event time): ON CONFLICT cannot touch a row twice in one statement.
 * The highest version wins (../versions.ts); `stale` counts the records refused for an older or equal version than one
 * of the same bar in the batch. A batch rarely repeats a bar, so the common case allocates no key and copies nothing.
 */
export function newestPerBar(records: readonly SinkRecord<PriceUpdate>[]): { kept: readonly SinkRecord<PriceUpdate>[]; stale: number } {
  const seen = new Map<string, Map<string, Set<number>>>();
  let repeated = false;
  for (const { value: r } of records) {
    let bySymbol = seen.get(r!.symbol);
    if (!bySymbol) seen.set(r!.symbol, bySymbol = new Map());
    let times = bySymbol.get(r!.interval);
    if (!times) bySymbol.set(r!.interval, times = new Set());
    if (times.has(r!.eventTime)) { repeated = true; break; }
    times.add(r!.eventTime);
  }
  if (!repeated) return { kept: records, stale: 0 };
  return newestPerKey(records, ({ value: r }) => `${r!.symbol}|${r!.interval}|${r!.eventTime}`);
}

/**
 * Upserts the bars (each bar at most once) in one transaction on one pooled connection; `versions[i]` is the version of
 * `rows[i]` (null or absent: unversioned, last write wins). Returns how many versioned bars were refused as stale.
 */
export async function upsertPrices(pool: Pool, rows: readonly PriceUpdate[], versions?: readonly (number | null)[]): Promise<WriteResult> {
  if (rows.length === 0) return { stale: 0 };
  const prepare = async (client: pg.PoolClient) => {
    if (staged.has(client)) return;
    await client.query(CREATE_STAGE);
    staged.add(client);
  };
  const written = await inTransaction(pool, async (client) => {
    // The pool's query_timeout covers the COPY as any query (pg-copy-streams takes pg's timeout): a stream whose
    // connection stopped answering fails with pg's "Query read timeout", a StoreTimeoutError once classified.
    await pipeline(Readable.from(copyBinary(rows, versions)), client.query(copyFrom(COPY_STAGE)));
    return (await client.query<{ written: number }>(MERGE)).rows[0]!.written;
  }, prepare);
  let versioned = 0;
  if (versions) for (const v of versions) if (v !== null) versioned++;
  return { stale: versioned - written };
}
