// What every price sink shares: it reads price-updates (or an override) and checks each bar with the producers' rules
// (without staleness, so a replay of old records is valid). Only the write differs per store.
import { validatePriceUpdate } from '../topics/price-update.ts';
import type { PriceUpdate } from '../schemas/types.generated.ts';
import { priceUpdates, type TopicDef } from '../topics/index.ts';
import type { SinkRecord, TopicHandler, WriteResult } from './types.ts';

export function priceHandler(topic: TopicDef<PriceUpdate> | undefined, writeBatch: (records: readonly SinkRecord<PriceUpdate>[]) =>
  Promise<WriteResult | void>): TopicHandler<PriceUpdate> {
  return { topic: topic ?? priceUpdates, validate: (v) => validatePriceUpdate(v, Date.now()), writeBatch };
}
