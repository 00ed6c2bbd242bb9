// price-updates → price_data (with version 2's vwap and trades, null when absent): COPY the batch into a per-connection temporary staging table, then one
// INSERT … SELECT … ON CONFLICT from it, in one transaction. COPY moves rows at PostgreSQL's bulk-load rate; the merge
// keeps the upsert idempotent: a replayed record finds an identical row and the WHERE clause leaves it untouched (no new
// row version), and an older record for the same bar overwrites nothing but what it carries itself (one row per bar).
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Pool } from '../../lib/stores/postgres.ts';
import type { PriceUpdate } from '../../schemas/types.generated.ts';

/** Lives as long as its connection; emptied at each commit. Times stay epoch ms until the merge converts them. */
const CREATE_STAGE = `
CREATE TEMP TABLE IF NOT EXISTS price_stage (
  symbol text, interval text, t float8, open float8, high float8, low float8, close float8, volume float8,
  source text, quality float8, ing float8, vwap float8, trades int8
) ON COMMIT DELETE ROWS`;

const COPY_STAGE = 'COPY price_stage FROM STDIN (FORMAT binary)';

const MERGE = `
INSERT INTO price_data AS p (symbol, interval, ts, open, high, low, close, volume, source, quality, ingested_at, vwap, trades)
SELECT symbol, interval, to_timestamp(t / 1000.0), open, high, low, close, volume, source, quality, to_timestamp(ing / 1000.0), vwap, trades
FROM price_stage
ON CONFLICT (symbol, interval, ts) DO UPDATE SET
  open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close, volume = EXCLUDED.volume,
  source = EXCLUDED.source, quality = EXCLUDED.quality, ingested_at = EXCLUDED.ingested_at, vwap = EXCLUDED.vwap, trades = EXCLUDED.trades
WHERE (p.open, p.high, p.low, p.close, p.volume, p.source, p.quality, p.ingested_at, p.vwap, p.trades)
  IS DISTINCT FROM (EXCLUDED.open, EXCLUDED.high, EXCLUDED.low, EXCLUDED.close, EXCLUDED.volume, EXCLUDED.source, EXCLUDED.quality, EXCLUDED.ingested_at, EXCLUDED.vwap, EXCLUDED.trades)`;

/** Connections whose session already has the staging table. */
const staged = new WeakSet<pg.PoolClient>();
/** Rows per COPY data chunk. */
const CHUNK = 4096;
const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
const FIELDS = 13;
/**
 * Most bytes of a row but its text: field count, 13 field lengths, 8 float8 values, vwap (float8) and trades (int8)
 * when present (a null is its length -1 alone); the three text fields add their lengths.
 */
const ROW_FIXED = 2 + FIELDS * 4 + 10 * 8;

/**
 * The bars in PostgreSQL's binary COPY format, in chunks: no number is printed or parsed on either side. Every text
 * field is ASCII by contract (symbol pattern, interval and source enums), so its length is its byte count.
 */
function* copyBinary(rows: readonly PriceUpdate[]): Generator<Buffer> {
  const header = Buffer.alloc(SIGNATURE.length + 8);
  SIGNATURE.copy(header);
  yield header; // flags 0, no header extension
  for (let i = 0; i < rows.length; i += CHUNK) {
    const end = Math.min(rows.length, i + CHUNK);
    let size = 0;
    for (let j = i; j < end; j++) { const r = rows[j]!; size += ROW_FIXED + r.symbol.length + r.interval.length + r.source.length; }
    const b = Buffer.allocUnsafe(size + (end === rows.length ? 2 : 0));
    let o = 0;
    const text = (v: string) => { o = b.writeInt32BE(v.length, o); o += b.write(v, o, 'latin1'); };
    const float = (v: number) => { o = b.writeInt32BE(8, o); o = b.writeDoubleBE(v, o); };
    for (let j = i; j < end; j++) {
      const r = rows[j]!;
      o = b.writeInt16BE(FIELDS, o);
      text(r.symbol); text(r.interval); float(r.eventTime);
      float(r.open); float(r.high); float(r.low); float(r.close); float(r.volume);
      text(r.source); float(r.quality); float(r.ingestTime);
      if (r.vwap == null) o = b.writeInt32BE(-1, o); else float(r.vwap);
      if (r.trades == null) o = b.writeInt32BE(-1, o); else { o = b.writeInt32BE(8, o); o = b.writeBigInt64BE(BigInt(r.trades), o); }
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
      await pipeline(Readable.from(copyBinary(rows)), client.query(copyFrom(COPY_STAGE)));
      await client.query(MERGE);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => { broken = true; });
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
