// The columns of price_data, once: each names the price-update field it holds, its SQL type and whether it is part of
// the primary key. The staging table, the binary COPY encoding, the merge (./copy-merge.ts, through ./prices.ts) and
// what `schema check` says the postgres-sink keeps (../stored-fields.ts) are all derived from this list: a new field is
// one line here plus the migration that adds its column.
import type { PriceUpdate } from '../../schemas/types.generated.ts';
import { columnsOf, type Column } from './copy-merge.ts';

export { VERSION_COLUMN } from './copy-merge.ts';
export type PriceColumn = Column<PriceUpdate>;

const column = columnsOf<PriceUpdate>();

/**
 * The columns whose change makes a new revision of a bar (price_revisions, migration 011): the values, not when the
 * producer fetched them (ingested_at).
 */
export const REVISED_COLUMNS = ['open', 'high', 'low', 'close', 'volume', 'vwap', 'trades', 'source', 'quality', 'final', 'adjusted'] as const;

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
  column('final', 'bool', 'final'), // price-update version 3, migration 011
  column('adjusted', 'bool', 'adjusted'), // price-update version 3, migration 011
];
