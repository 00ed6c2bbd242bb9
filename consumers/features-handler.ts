// What every price-features sink shares: it reads price-features (or an override) and checks each record with the
// contract's rules (topics/price-features.ts). The features group never publishes tombstones, so one is dead-lettered.
// Equal versions overwrite in these stores: a record's version is that of the price-updates record its bar was computed
// from (header marketstream-source-version), so two records of a bar with one version saw the same input, and the
// later one can only differ by a newer indicator definition.
import type { PriceFeatures } from '../schemas/types.generated.ts';
import { priceFeatures, type TopicDef } from '../topics/index.ts';
import { validatePriceFeatures } from '../topics/price-features.ts';
import type { SinkRecord, TopicHandler, WriteResult } from './types.ts';

export function featuresHandler(topic: TopicDef<PriceFeatures> | undefined, writeBatch: (records: readonly SinkRecord<PriceFeatures>[]) =>
  Promise<WriteResult | void>): TopicHandler<PriceFeatures> {
  return { topic: topic ?? priceFeatures, validate: validatePriceFeatures, acceptsTombstones: false, writeBatch };
}
