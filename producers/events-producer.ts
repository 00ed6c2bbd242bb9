// The events producer: every interval (default 5 min), fetch market events (news) from a source, drop the ids it
// already published (bounded memory), validate them, publish the good ones to market-events (key = event id) and
// dead-letter the bad ones with the reason. An article seen again with symbols not yet published is published again
// under the same id with the union of its symbols (an update of the event: the sinks upsert by id); an identical
// repeat, or one naming only symbols already published, is dropped (events/seen.ts). start() runs until stop(), a
// tick count, or a finite source (a file) running dry; stop() lets the tick in flight finish. An id counts as published only once Kafka acknowledged it,
// so a failed tick's events are offered again by the next fetch of a live feed. The loop and the publish step are
// polling-producer.ts (shared with the price producer).
import type { MarketEvent } from '../schemas/types.generated.ts';
import { marketEvents } from '../topics/index.ts';
import { createPublishedEvents } from './events/seen.ts';
import type { EventSource } from './events/types.ts';
import { validateMarketEvent } from '../topics/market-event.ts';
import { createPollingProducer, type PollingProducer, type PollingProducerOptions, type TickCounts } from './polling-producer.ts';

/** Event ids remembered for de-duplication across ticks (a few days of news for hundreds of symbols). */
export const DEFAULT_DEDUP_CAPACITY = 50_000;

export interface EventsProducerOptions extends PollingProducerOptions<EventSource, MarketEvent> {
  /** How many published ids are remembered (default DEFAULT_DEDUP_CAPACITY). */
  dedupCapacity?: number;
}

/** What one tick did: fetched, duplicates (ids already published, this tick or an earlier one), published, invalid, rejected. */
export type EventsTickResult = TickCounts;

export type EventsProducer = PollingProducer<EventsTickResult>;

export function createEventsProducer(opts: EventsProducerOptions): EventsProducer {
  return createPollingProducer(opts, {
    kind: 'events',
    topic: marketEvents,
    intervalMs: opts.config.EVENT_POLL_SECONDS * 1000,
    keyOf: (e) => e.id,
    validate: validateMarketEvent,
    seen: createPublishedEvents(opts.dedupCapacity ?? DEFAULT_DEDUP_CAPACITY),
    resultOf: (counts) => counts,
  });
}
