// `explain SYMBOL`, the prices part: per interval, the newest bar PostgreSQL price_data holds for the symbol, how fresh
// it is by GAPS_CALENDAR (when it ended, how late its series is: lib/freshness.ts) and its confidence now
// (topics/price-update.ts priceConfidence: its quality, halved with every FRESHNESS_LIMITS step it is late beyond the
// first). Stale bars are shown with a low confidence, never hidden.
import { calendarOf } from '../../lib/calendar.ts';
import type { Config } from '../../lib/config.ts';
import { confidenceOf, freshnessOf, type BarFreshness } from '../../lib/freshness.ts';
import type { Pool } from '../../lib/stores/postgres.ts';
import { isPriceInterval, type PriceInterval } from '../../topics/price-update.ts';

export interface PriceExplained extends BarFreshness {
  interval: PriceInterval;
  /** The bar's event time. */
  eventTime: number;
  close: number;
  source: string;
  quality: number;
  /** 0..1 at the time explained. */
  confidence: number;
}

export async function pricesOf(pool: Pool, config: Config, symbol: string, now: number): Promise<PriceExplained[]> {
  const { rows } = await pool.query<{ interval: string; ts: Date; close: number; source: string; quality: number }>(
    'SELECT DISTINCT ON (interval) interval, ts, close, source, quality FROM price_data WHERE symbol = $1 ORDER BY interval, ts DESC', [symbol]);
  const cal = calendarOf(config.GAPS_CALENDAR);
  return rows.flatMap((r) => {
    if (!isPriceInterval(r.interval)) return [];
    const bar = { interval: r.interval, eventTime: r.ts.getTime(), quality: r.quality };
    return [{
      ...bar, close: r.close, source: r.source, ...freshnessOf(cal, bar, now, config.FRESHNESS_LIMITS),
      confidence: confidenceOf(cal, bar, now, config.FRESHNESS_LIMITS),
    }];
  });
}
