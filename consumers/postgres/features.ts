// price-features → price_features (migration 009): one row per bar (symbol, interval, event time) with every field of
// the record, by the COPY-staging-merge write of ./copy-merge.ts, as price_data is written. Newest wins with one
// difference: a record's version is that of the price-updates record its bar was computed from, and an EQUAL version
// overwrites (the same input, so only a newer indicator definition makes the values differ: the later record is the
// newer definition); an older version is refused and counted as stale. A replay rewrites its rows with the same values.
import type { Pool } from '../../lib/stores/postgres.ts';
import type { PriceFeatures } from '../../schemas/types.generated.ts';
import type { TopicDef } from '../../topics/index.ts';
import { FEATURE_VALUES } from '../../topics/price-features.ts';
import { featuresHandler } from '../features-handler.ts';
import type { TopicHandler } from '../types.ts';
import { supersedesOrEquals } from '../versions.ts';
import { columnsOf, stagedUpsert, writeNewestBars, type Column } from './copy-merge.ts';

const column = columnsOf<PriceFeatures>();
/** emaFast → ema_fast. */
const snakeCase = (field: string) => field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** The columns of price_features, in the migration's order; the version column is ./copy-merge.ts's. */
export const FEATURE_COLUMNS: readonly Column<PriceFeatures>[] = [
  column('symbol', 'text', 'symbol', true),
  column('interval', 'text', 'interval', true),
  column('ts', 'timestamptz', 'eventTime', true),
  column('bars', 'int8', 'bars'),
  column('close', 'float8', 'close'),
  column('definition', 'text', 'definition'),
  ...FEATURE_VALUES.map((f) => column(snakeCase(f), 'float8', f)),
  column('computed_at', 'timestamptz', 'computedAt'),
];

const upsertFeatures = stagedUpsert({ table: 'price_features', stage: 'price_features_stage', columns: FEATURE_COLUMNS, equalVersionWins: true });

/** The postgres-sink's handler for price-features (or an override); `db` gives the sink's pool. */
export function priceFeaturesHandler(topic: TopicDef<PriceFeatures> | undefined, db: () => Pool): TopicHandler<PriceFeatures> {
  return featuresHandler(topic, (records) => writeNewestBars(db(), upsertFeatures, records, supersedesOrEquals));
}
