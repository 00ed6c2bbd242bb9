// The columns of price_data, once: each names the price-update field it holds, its SQL type and whether it is part of
// the primary key. The staging table, the binary COPY encoding, the merge (./prices.ts) and what `schema check` says
// the postgres-sink keeps (../stored-fields.ts) are all derived from this list: a new field is one line here plus the
// migration that adds its column.
import type { PriceUpdate } from '../../schemas/types.generated.ts';

/** How a value of each SQL type travels in PostgreSQL's binary COPY format, after its 4-byte length. */
interface Encoder<V> {
  /** Bytes of the value, its length word excluded. */
  bytes(v: V): number;
  /** Writes the value at `o`, returns the offset after it. */
  write(b: Buffer, o: number, v: V): number;
}

const PG_EPOCH_MS = Date.UTC(2000, 0, 1);

const ENCODERS = {
  // Every text field is ASCII by contract (symbol pattern, interval and source enums): its length is its byte count.
  text: { bytes: (v: string) => v.length, write: (b: Buffer, o: number, v: string) => o + b.write(v, o, 'latin1') },
  float8: { bytes: () => 8, write: (b: Buffer, o: number, v: number) => b.writeDoubleBE(v, o) },
  int8: { bytes: () => 8, write: (b: Buffer, o: number, v: number) => b.writeBigInt64BE(BigInt(v), o) },
  // Microseconds since 2000-01-01 UTC; the record carries epoch milliseconds.
  timestamptz: { bytes: () => 8, write: (b: Buffer, o: number, ms: number) => b.writeBigInt64BE(BigInt(Math.round((ms - PG_EPOCH_MS) * 1000)), o) },
} satisfies Record<string, Encoder<string> | Encoder<number>>;

type SqlType = keyof typeof ENCODERS;
type ValueOf<T extends SqlType> = Parameters<(typeof ENCODERS)[T]['write']>[2];
/** The fields of PriceUpdate whose values fit a column of type T (null/undefined meaning SQL NULL). */
type FieldOf<T extends SqlType> = { [F in keyof PriceUpdate]-?: NonNullable<PriceUpdate[F]> extends ValueOf<T> ? F : never }[keyof PriceUpdate];

export interface PriceColumn {
  /** The price_data column. */
  readonly name: string;
  readonly type: SqlType;
  /** The price-update field it holds. */
  readonly field: keyof PriceUpdate;
  /** Part of the primary key (the conflict target, never updated). */
  readonly key: boolean;
  /** Bytes of the record's value in binary COPY, its 4-byte length included (-1 alone for a NULL). */
  size(r: PriceUpdate): number;
  /** Writes the record's value, length first, at `o`; returns the offset after it. */
  write(b: Buffer, o: number, r: PriceUpdate): number;
}

function column<T extends SqlType>(name: string, type: T, field: FieldOf<T>, key = false): PriceColumn {
  const encoder = ENCODERS[type] as Encoder<ValueOf<T>>;
  const value = (r: PriceUpdate) => r[field] as ValueOf<T> | null | undefined;
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
}

/**
 * The column beside the record's fields: the version of the record that wrote the row (SinkRecord.version, migration
 * 007), int8, NULL when unversioned. Staged and merged by ./prices.ts, which alone compares it.
 */
export const VERSION_COLUMN = 'version';

export const PRICE_COLUMNS: readonly PriceColumn[] = [
  column('symbol', 'text', 'symbol', true),
  column('interval', 'text', 'interval', true),
  column('ts', 'timestamptz', 'eventTime', true),
  column('open', 'float8', 'open'),
  column('high', 'float8', 'high'),
  column('low', 'float8', 'low'),
  column('close', 'float8', 'close'),
  column('volume', 'float8', 'volume'),
  column('source', 'text', 'source'),
  column('quality', 'float8', 'quality'),
  column('ingested_at', 'timestamptz', 'ingestTime'),
  column('vwap', 'float8', 'vwap'), // price-update version 2, migration 006
  column('trades', 'int8', 'trades'), // price-update version 2, migration 006
];
