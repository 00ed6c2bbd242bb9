// The postgres-sink's write of a bar table (price_data: ./prices.ts, price_features: ./features.ts), derived from a list
// of columns: COPY the batch in PostgreSQL's binary format into a per-connection temporary staging table, then one
// INSERT … SELECT … ON CONFLICT from it, in one transaction. COPY moves rows at PostgreSQL's bulk-load rate, and no
// number is printed or parsed on the way. Newest wins: each row keeps the version of the record that wrote it, and the
// merge updates a row only when the incoming version is newer (or, for a table where equal versions overwrite, not
// older), or the row has none. ON CONFLICT DO UPDATE re-checks that WHERE against the latest committed row once it holds
// the row's lock, so two writers of the same bars at once cannot lose the newer value; the staged rows are merged in
// key order, so they take row locks in the same order and cannot deadlock. Rows without a version (records built by
// hand) keep last-write-wins, skipping identical rows.
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { classifyPgError, type Pool } from '../../lib/stores/postgres.ts';
import type { SinkRecord, WriteResult } from '../types.ts';
import { newestPerBar, supersedes, type BarKey, type Supersedes } from '../versions.ts';
import { inTransaction } from './transaction.ts';

/** How a value of each SQL type travels in PostgreSQL's binary COPY format, after its 4-byte length. */
interface Encoder<V> {
  /** Bytes of the value, its length word excluded. */
  bytes(v: V): number;
  /** Writes the value at `o`, returns the offset after it. */
  write(b: Buffer, o: number, v: V): number;
}

const PG_EPOCH_MS = Date.UTC(2000, 0, 1);

const ENCODERS = {
  // UTF-8, as the server's encoding takes it (most text fields are ASCII by contract; an indicator definition need not be).
  text: { bytes: (v: string) => Buffer.byteLength(v, 'utf8'), write: (b: Buffer, o: number, v: string) => o + b.write(v, o, 'utf8') },
  float8: { bytes: () => 8, write: (b: Buffer, o: number, v: number) => b.writeDoubleBE(v, o) },
  int8: { bytes: () => 8, write: (b: Buffer, o: number, v: number) => b.writeBigInt64BE(BigInt(v), o) },
  bool: { bytes: () => 1, write: (b: Buffer, o: number, v: boolean) => b.writeUInt8(v ? 1 : 0, o) },
  // Microseconds since 2000-01-01 UTC; the record carries epoch milliseconds.
  timestamptz: { bytes: () => 8, write: (b: Buffer, o: number, ms: number) => b.writeBigInt64BE(BigInt(Math.round((ms - PG_EPOCH_MS) * 1000)), o) },
} satisfies Record<string, Encoder<string> | Encoder<number> | Encoder<boolean>>;

export type SqlType = keyof typeof ENCODERS;
type ValueOf<T extends SqlType> = Parameters<(typeof ENCODERS)[T]['write']>[2];
/** The fields of R whose values fit a column of type T (null/undefined meaning SQL NULL). */
type FieldOf<R, T extends SqlType> = { [F in keyof R]-?: NonNullable<R[F]> extends ValueOf<T> ? F : never }[keyof R];

export interface Column<R> {
  /** The table column. */
  readonly name: string;
  readonly type: SqlType;
  /** The record field it holds. */
  readonly field: keyof R;
  /** Part of the primary key (the conflict target, never updated). */
  readonly key: boolean;
  /** Bytes of the record's value in binary COPY, its 4-byte length included (-1 alone for a NULL). */
  size(r: R): number;
  /** Writes the record's value, length first, at `o`; returns the offset after it. */
  write(b: Buffer, o: number, r: R): number;
}

/** The column builder for records of type R: `column(name, type, field, key)`, the field checked against the type. */
export function columnsOf<R>() {
  return function column<T extends SqlType>(name: string, type: T, field: FieldOf<R, T>, key = false): Column<R> {
    const encoder = ENCODERS[type] as Encoder<ValueOf<T>>;
    const value = (r: R) => r[field] as ValueOf<T> | null | undefined;
    return {
      name, type, field, key,
      size: (r) => { const v = value(r); return 4 + (v == null ? 0 : encoder.bytes(v)); },
      write: (b, o, r) => {
        const v = value(r);
        if (v == null) return b.writeInt32BE(-1, o);
        const start = b.writeInt32BE(0, o);
        const end = encoder.write(b, start, v);
        b.writeInt32BE(end - start, o);
        return end;
      },
    };
  };
}

/**
 * The column beside the record's fields: the version of the record that wrote the row (SinkRecord.version, migration
 * 007), int8, NULL when unversioned. Staged and merged here, which alone compares it.
 */
export const VERSION_COLUMN = 'version';

/** Rows per COPY data chunk. */
const CHUNK = 4096;
const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

/**
 * The rows and their versions (null: none) in PostgreSQL's binary COPY format, in chunks; with `kept`, a last boolean
 * field per row (whether the row is the one merged into the table: see StagedTable.history).
 */
export function* copyBinary<R>(columns: readonly Column<R>[], rows: readonly R[], versions: readonly (number | null)[] | undefined,
  kept?: readonly boolean[]): Generator<Buffer> {
  const fields = columns.length + 1 + (kept ? 1 : 0);
  const header = Buffer.alloc(SIGNATURE.length + 8);
  SIGNATURE.copy(header);
  yield header; // flags 0, no header extension
  for (let i = 0; i < rows.length; i += CHUNK) {
    const end = Math.min(rows.length, i + CHUNK);
    let size = end === rows.length ? 2 : 0; // the trailer
    for (let j = i; j < end; j++) {
      for (const c of columns) size += c.size(rows[j]!);
      size += versions?.[j] == null ? 4 : 12;
      if (kept) size += 5;
    }
    const b = Buffer.allocUnsafe(size + 2 * (end - i));
    let o = 0;
    for (let j = i; j < end; j++) {
      o = b.writeInt16BE(fields, o);
      for (const c of columns) o = c.write(b, o, rows[j]!);
      const v = versions?.[j];
      if (v == null) o = b.writeInt32BE(-1, o);
      else o = b.writeBigInt64BE(BigInt(v), b.writeInt32BE(8, o));
      if (kept) o = b.writeUInt8(kept[j] ? 1 : 0, b.writeInt32BE(1, o));
    }
    if (end === rows.length) o = b.writeInt16BE(-1, o); // trailer
    yield b.subarray(0, o);
  }
}

export interface StagedTable<R> {
  /** The table written (its primary key: the key columns). */
  readonly table: string;
  /** The session's temporary staging table. */
  readonly stage: string;
  readonly columns: readonly Column<R>[];
  /** A write whose version equals the row's applies (true) or is refused as stale (false: a replay changes nothing). */
  readonly equalVersionWins: boolean;
  /**
   * The table's revision history, written in the merge's transaction (price_revisions, migration 011): its table, and
   * the columns whose change makes a revision. Every versioned record of the batch is staged (not only the newest per
   * key, which alone is merged), so two revisions of a key in one batch are both kept.
   */
  readonly history?: { readonly table: string; readonly compared: readonly string[] };
}

/** What a batch's write may add: which rows are the ones merged (the others only feed the history), their partition. */
export interface StagedBatch {
  readonly kept?: readonly boolean[];
  readonly partition?: number | null;
}

export type StagedUpsert<R> = (pool: Pool, rows: readonly R[], versions?: readonly (number | null)[], batch?: StagedBatch) => Promise<WriteResult>;

/**
 * The history statement of `t` (a data-modifying CTE, so it sees the table as it was before the merge of the same
 * statement). Per key of the batch, the stored row and the staged versioned records are put in version order (the stored
 * row first at an equal version: a replay); a record is a revision when its values differ from the one before it,
 * and the one before it is kept too (a bar revised once has both revisions). `changed` names the fields that differ
 * from the one before (empty for the first known). Keyed by (key, version), so a replay writes nothing again.
 */
function historyCte<R>(t: StagedTable<R>, history: NonNullable<StagedTable<R>['history']>, keep: string): string {
  const cols = t.columns.map((c) => c.name);
  const key = t.columns.filter((c) => c.key).map((c) => c.name);
  const list = (xs: readonly string[], prefix = '') => xs.map((x) => prefix + x).join(', ');
  const V = VERSION_COLUMN;
  const w = `(PARTITION BY ${list(key)} ORDER BY ${V}, incoming)`;
  const prev = history.compared.map((c) => `lag(${c}) OVER w AS prev_${c}`).join(', ');
  const next = `(${list(history.compared)}) IS DISTINCT FROM (${history.compared.map((c) => `lead(${c}) OVER w`).join(', ')})`;
  const changed = `array_remove(ARRAY[${history.compared.map((c) => `CASE WHEN ${c} IS DISTINCT FROM prev_${c} THEN '${c}' END`).join(', ')}]::text[], NULL)`;
  return `
candidates AS (
  SELECT ${list(cols)}, ${V}, true AS incoming FROM ${t.stage} WHERE ${V} IS NOT NULL
  UNION ALL
  SELECT ${list(cols, 'p.')}, p.${V}, false FROM ${t.table} p
  WHERE p.${V} IS NOT NULL AND (${list(key, 'p.')}) IN (SELECT ${list(key)} FROM ${t.stage} WHERE ${V} IS NOT NULL)),
sequenced AS (
  SELECT *, lag(${V}) OVER w AS prev_version, ${prev},
    lead(${V}) OVER w IS NOT NULL AND ${next} AS before_change
  FROM candidates WINDOW w AS ${w}),
revised AS (
  INSERT INTO ${history.table} (${list(cols)}, ${V}, partition, written_at, changed)
  SELECT ${list(cols)}, ${V}, CASE WHEN incoming THEN $1::int END, CASE WHEN incoming THEN now() END,
    CASE WHEN prev_version IS NULL THEN '{}'::text[] ELSE ${changed} END
  FROM sequenced
  WHERE before_change OR (prev_version IS NOT NULL AND (${list(history.compared)}) IS DISTINCT FROM (${list(history.compared, 'prev_')}))
  ORDER BY ${list(key)}, ${V}
  ON CONFLICT DO NOTHING),${keep}`;
}

/**
 * The upsert of a batch into `t.table` (each key at most once among the rows kept: ON CONFLICT cannot touch a row twice
 * in one statement), in one transaction on one pooled connection; `versions[i]` is the version of `rows[i]` (null or
 * absent: unversioned, last write wins). With a history, `batch.kept` says which rows are merged (absent: all), and
 * `batch.partition` is the partition the versions are offsets of. Resolves to how many versioned rows were refused as stale.
 */
export function stagedUpsert<R>(t: StagedTable<R>): StagedUpsert<R> {
  const names = (columns: readonly Column<R>[], prefix = '') => columns.map((c) => prefix + c.name).join(', ');
  const all = names(t.columns);
  const key = t.columns.filter((c) => c.key);
  const values = t.columns.filter((c) => !c.key);
  const V = VERSION_COLUMN;
  const K = 'kept';
  // Lives as long as its connection; emptied at each commit. Same columns and types as the table, and the version (and
  // with a history, whether the row is merged).
  const createStage = `CREATE TEMP TABLE IF NOT EXISTS ${t.stage} (${t.columns.map((c) => `${c.name} ${c.type}`).join(', ')}, ${V} int8${t.history ? `, ${K} bool` : ''})
    ON COMMIT DELETE ROWS`;
  const copyStage = `COPY ${t.stage} (${all}, ${V}${t.history ? `, ${K}` : ''}) FROM STDIN (FORMAT binary)`;
  // One row back: how many versioned rows the merge wrote (the others were stale).
  const merged = `merged AS (
  INSERT INTO ${t.table} AS p (${all}, ${V})
  SELECT ${all}, ${V} FROM ${t.stage}${t.history ? ` WHERE ${K}` : ''} ORDER BY ${names(key)}
  ON CONFLICT (${names(key)}) DO UPDATE SET ${values.map((c) => `${c.name} = EXCLUDED.${c.name}`).join(', ')}, ${V} = EXCLUDED.${V}
  WHERE CASE WHEN EXCLUDED.${V} IS NULL THEN (${names(values, 'p.')}) IS DISTINCT FROM (${names(values, 'EXCLUDED.')})
             ELSE p.${V} IS NULL OR EXCLUDED.${V} ${t.equalVersionWins ? '>=' : '>'} p.${V} END
  RETURNING p.${V} AS v)`;
  const merge = `
WITH ${t.history ? historyCte(t, t.history, merged) : merged}
SELECT count(*)::int AS written FROM merged WHERE v IS NOT NULL`;
  /** Connections whose session already has the staging table. */
  const staged = new WeakSet<pg.PoolClient>();
  const prepare = async (client: pg.PoolClient) => {
    if (staged.has(client)) return;
    await client.query(createStage);
    staged.add(client);
  };

  return async (pool, rows, versions, batch = {}) => {
    if (rows.length === 0) return { stale: 0 };
    const kept = t.history ? batch.kept ?? rows.map(() => true) : undefined;
    const written = await inTransaction(pool, async (client) => {
      // The pool's query_timeout covers the COPY as any query (pg-copy-streams takes pg's timeout): a stream whose
      // connection stopped answering fails with pg's "Query read timeout", a StoreTimeoutError once classified.
      await pipeline(Readable.from(copyBinary(t.columns, rows, versions, kept)), client.query(copyFrom(copyStage)));
      return (await client.query<{ written: number }>(merge, t.history ? [batch.partition ?? null] : [])).rows[0]!.written;
    }, prepare);
    let versioned = 0;
    if (versions) for (let i = 0; i < versions.length; i++) if (versions[i] !== null && (!kept || kept[i])) versioned++;
    return { stale: versioned - written };
  };
}

/**
 * A handler's write of a batch of bar records through `upsert` (a stagedUpsert): the newest record of each bar as `wins`
 * decides (default: the highest version), the others counted as stale with those the table refused. `history`: the
 * upsert keeps a history (StagedTable.history), so the records not merged are staged for it too.
 */
export async function writeNewestBars<R extends BarKey>(pool: Pool, upsert: StagedUpsert<R>, records: readonly SinkRecord<R>[],
  wins: Supersedes = supersedes, history = false): Promise<WriteResult> {
  const { kept, stale } = newestPerBar(records, wins);
  // With a history, every versioned record goes to the stage (the ones not kept only feed the history).
  const keptSet = history && kept !== records ? new Set(kept) : undefined;
  const staged = keptSet ? records.filter((r) => keptSet.has(r) || r.version !== undefined) : kept;
  const batch: StagedBatch = { partition: records[0]?.partition ?? null, ...(keptSet ? { kept: staged.map((r) => keptSet.has(r)) } : {}) };
  const written = await upsert(pool, staged.map((r) => r.value!), staged.map((r) => r.version ?? null), batch).catch((err) => { throw classifyPgError(err); });
  return { stale: stale + (written.stale ?? 0) };
}
