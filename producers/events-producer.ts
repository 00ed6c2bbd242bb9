// The events producer: every interval (default 5 min), fetch market events (news) from a source, drop the ids it
// already published (bounded memory), validate them, publish the good ones to market-events (key = event id) and
// dead-letter the bad ones with the reason. start() runs until stop(), a tick count, or a finite source (a file)
// running dry; stop() lets the tick in flight finish. An id counts as published only once Kafka acknowledged it,
// so a failed tick's events are offered again by the next fetch of a live feed. The loop and the publish step are
// polling-producer.ts (shared with the price producer).
import type { Config } from '../lib/config.ts';
import type { Logger } from '../lib/logger.ts';
import type { Publisher } from '../lib/publisher.ts';
import type { MarketEvent } from '../schemas/types.generated.ts';
import { marketEvents, type TopicDef } from '../topics/index.ts';
import { createSeenIds } from './events/seen.ts';
import type { EventSource } from './events/types.ts';
import { validateMarketEvent } from '../topics/market-event.ts';
import { createPollingProducer, type PollingProducer, type TickCounts } from './polling-producer.ts';

/** Event ids remembered for de-duplication across ticks (a few days of news for hundreds of symbols). */
export const DEFAULT_DEDUP_CAPACITY = 50_000;

export interface EventsProducerOptions {
  config: Config;
  logger: Logger;
  publisher: Publisher;
  source: EventSource;
  /** Symbols to fetch news for (default config SYMBOLS); empty = whatever the source has (file). */
  symbols?: readonly string[];
  /** Time between the starts of two ticks (default config EVENT_POLL_SECONDS). */
  intervalMs?: number;
  /** Stop after this many ticks. */
  maxTicks?: number;
  /** Topic to publish to (default market-events; tests use an isolated copy). */
  topic?: TopicDef<MarketEvent>;
  /** How many published ids are remembered (default DEFAULT_DEDUP_CAPACITY). */
  dedupCapacity?: number;
  clock?: () => number;
}

/** What one tick did: fetched, duplicates (ids already published, this tick or an earlier one), published, invalid, rejected. */
export type EventsTickResult = TickCounts;

export type EventsProducer = PollingProducer<EventsTickResult>;

export function createEventsProducer(opts: EventsProducerOptions): EventsProducer {
  const { source } = opts;
  const topic = opts.topic ?? marketEvents;
  return createPollingProducer({
    kind: 'events',
    logger: opts.logger.child({ component: 'events-producer', source: source.name, topic: topic.name }),
    publisher: opts.publisher,
    source,
    topic,
    symbols: opts.symbols ?? opts.config.SYMBOLS,
    intervalMs: opts.intervalMs ?? opts.config.EVENT_POLL_SECONDS * 1000,
    maxTicks: opts.maxTicks,
    clock: opts.clock ?? Date.now,
    keyOf: (e) => e.id,
    validate: validateMarketEvent,
    seen: createSeenIds(opts.dedupCapacity ?? DEFAULT_DEDUP_CAPACITY),
    resultOf: (counts) => counts,
  });
}
