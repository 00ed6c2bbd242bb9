// `explain SYMBOL`, the features part: per interval, the latest features the features group holds for the symbol (its
// state in PostgreSQL, computed again from the base and the held bars: what it published last for that bar), and the
// price-updates records they came from: the newest record of the key the values saw, and the record of the latest bar.
import type { Config } from '../../lib/config.ts';
import type { Pool } from '../../lib/stores/postgres.ts';
import { groupIdOf } from '../../consumers/catalog.ts';
import type { IndicatorValues } from '../../consumers/features/indicators.ts';
import { KeySeries } from '../../consumers/features/series.ts';
import { load } from '../../consumers/features/state.ts';
import { priceUpdatesOf } from '../../topics/index.ts';
import type { LoggedRecord, RecordRef } from './records.ts';

export interface FeaturesExplained {
  interval: string;
  /** The latest bar's values; its bar time is `values.time`. */
  values: IndicatorValues;
  definition: string | null;
  /** Bars held for corrections, and the newest price-updates offset taken. */
  heldBars: number;
  version: number;
  /** The newest record of the key the values saw, and the record that wrote the latest bar. */
  newest: RecordRef;
  bar: RecordRef;
  records?: { newest: LoggedRecord; bar: LoggedRecord };
}

export async function featuresOf(pool: Pool, config: Config, symbol: string): Promise<FeaturesExplained[]> {
  const group = groupIdOf(config, 'features');
  const { rows } = await pool.query<{ interval: string; version: string; partition: number | null; definition: string | null }>(
    'SELECT interval, version, partition, definition FROM feature_state WHERE group_id = $1 AND symbol = $2 AND version >= 0 ORDER BY interval',
    [group, symbol]);
  const topic = priceUpdatesOf(config).name;
  const out: FeaturesExplained[] = [];
  for (const r of rows) {
    const snapshot = await load(pool, group, { symbol, interval: r.interval });
    if (!snapshot || r.partition === null) continue;
    // The state was computed with its own periods (in its snapshot), whatever the configuration says now.
    const series = new KeySeries(snapshot.base.periods, config.FEATURES_HISTORY_BARS, snapshot);
    const values = series.latest;
    const last = snapshot.bars.at(-1);
    if (!values || !last) continue;
    out.push({
      interval: r.interval, values, definition: r.definition, heldBars: series.size, version: Number(r.version),
      newest: { topic, partition: r.partition, offset: r.version }, bar: { topic, partition: r.partition, offset: String(last.version) },
    });
  }
  return out;
}
