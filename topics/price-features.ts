// The price-features contract beyond what Avro checks: which fields are indicator values, and the rules a record must
// satisfy to be stored (the stores would otherwise disagree on it: PostgreSQL keeps a NaN, JSON turns it into null).
// Pure: the features group and the sinks share it.
import type { PriceFeatures } from '../schemas/types.generated.ts';
import { isPriceInterval } from './price-update.ts';
import { MIN_TIMESTAMP_MS, SYMBOL_PATTERN } from './rules.ts';

/** The indicator values of a record, in schema order: each a double, or null until its indicator has enough bars. */
export const FEATURE_VALUES = [
  'sma', 'emaFast', 'emaSlow', 'macd', 'macdSignal', 'macdHistogram', 'rsi', 'bollingerUpper', 'bollingerMiddle', 'bollingerLower', 'atr',
  'logReturn', 'realizedVolatility', 'vwap',
] as const satisfies readonly (keyof PriceFeatures)[];
export type FeatureValue = (typeof FEATURE_VALUES)[number];

/** null when `f` is valid, otherwise the reason (the first rule it breaks). No staleness rule: a replay is valid. */
export function validatePriceFeatures(f: PriceFeatures): string | null {
  if (typeof f.symbol !== 'string' || !SYMBOL_PATTERN.test(f.symbol)) {
    return `symbol ${JSON.stringify(f.symbol)} is not a ticker (A-Z, 0-9, . ^ = -, 1-15 chars)`;
  }
  if (typeof f.interval !== 'string' || !isPriceInterval(f.interval) || f.interval === 'tick') {
    return `interval ${JSON.stringify(f.interval)} is not one of 1m, 5m, 1h, 1d`;
  }
  for (const field of ['eventTime', 'computedAt'] as const) {
    if (!Number.isFinite(f[field]) || f[field] < MIN_TIMESTAMP_MS) return `${field} ${f[field]} is not a time after 1970-01-02`;
  }
  if (!Number.isSafeInteger(f.bars) || f.bars < 1) return `bars ${f.bars} is not a whole number >= 1`;
  if (!(Number.isFinite(f.close) && f.close > 0)) return `close ${f.close} is not a positive number`;
  if (typeof f.definition !== 'string' || f.definition.trim() === '') return 'definition is empty';
  for (const field of FEATURE_VALUES) {
    const v = f[field];
    if (v != null && !Number.isFinite(v)) return `${field} is not a finite number or null (${String(v)})`;
  }
  return null;
}
