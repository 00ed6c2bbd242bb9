// What every price sink shares: it reads price-updates (or an override) and checks each bar with the producers' rules
// (without staleness, so a replay of old records is valid), and says which bar each one is (data age). Only the write
// differs per store.
import { validatePriceUpdate, type PriceInterval } from '../topics/price-update.ts';
import type { PriceUpdate } from '../schemas/types.generated.ts';
import { priceUpdates, type TopicDef } from '../topics/index.ts';
import type { SinkRecord, TopicHandler, WriteResult } from './types.ts';

export function priceHandler(topic: TopicDef<PriceUpdate> | undefined, writeBatch: (records: readonly SinkRecord<PriceUpdate>[]) =>
  Promise<WriteResult | void>): TopicHandler<PriceUpdate> {
  return {
    topic: topic ?? priceUpdates, validate: (v) => validatePriceUpdate(v, Date.now()), writeBatch,
    // Valid records only reach it: their interval is one of PRICE_INTERVALS.
    barOf: (v) => ({ symbol: v.symbol, interval: v.interval as PriceInterval, eventTime: v.eventTime, source: v.source }),
  };
}
