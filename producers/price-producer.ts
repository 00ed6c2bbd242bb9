// The price producer: every interval, fetch bars from a source, validate them, publish the good ones to
// price-updates (key = symbol) and dead-letter the bad ones with the reason. start() runs until stop(), a tick
// count, or a finite source running dry; stop() lets the tick in flight finish. The loop and the publish step are
// polling-producer.ts (shared with the events producer).
import type { PriceUpdate } from '../schemas/types.generated.ts';
import { priceUpdatesOf } from '../topics/index.ts';
import { createPollingProducer, type PollingProducer, type PollingProducerOptions, type TickCounts } from './polling-producer.ts';
import type { PriceFeed } from './sources/types.ts';
import { validatePriceUpdate } from '../topics/price-update.ts';

/** Default staleness limit for live sources: a bar that ended longer ago than this is dead-lettered. */
export const DEFAULT_MAX_STALENESS_MS = 15 * 60_000;

export interface PriceProducerOptions extends PollingProducerOptions<PriceFeed, PriceUpdate> {
  /** Staleness limit for live sources (yahoo, synthetic); null = no check. */
  maxStalenessMs?: number | null;
}

/** What one tick did: fetched, published, invalid, rejected (the price producer does not de-duplicate). */
export type TickResult = Omit<TickCounts, 'duplicates'>;

export type PriceProducer = PollingProducer<TickResult>;

export function createPriceProducer(opts: PriceProducerOptions): PriceProducer {
  const maxStalenessMs = opts.maxStalenessMs === undefined ? DEFAULT_MAX_STALENESS_MS : opts.maxStalenessMs;
  const validateOptions = maxStalenessMs === null ? {} : { maxStalenessMs };
  return createPollingProducer(opts, {
    kind: 'price',
    topic: priceUpdatesOf(opts.config),
    intervalMs: opts.config.PRICE_POLL_SECONDS * 1000,
    keyOf: (p) => p.symbol,
    validate: (p, now) => validatePriceUpdate(p, now, validateOptions),
    resultOf: ({ fetched, published, invalid, rejected }) => ({ fetched, published, invalid, rejected }),
  });
}
