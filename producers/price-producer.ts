// The price producer: every interval, fetch bars from a source, validate them, publish the good ones to
// price-updates (key = symbol) and dead-letter the bad ones with the reason. start() runs until stop(), a tick
// count, or a finite source running dry; stop() lets the tick in flight finish. The loop and the publish step are
// polling-producer.ts (shared with the events producer). Before its first tick, a producer whose source can regenerate
// what it missed (synthetic) finds the last bars it published (resume.ts) and hands them to the source, so a restart
// fills the hole it left.
import type { PriceUpdate } from '../schemas/types.generated.ts';
import { priceUpdatesOf } from '../topics/index.ts';
import type { LastPublished, LastPublishedQuery } from './resume.ts';
import { createPollingProducer, type PollingProducer, type PollingProducerOptions, type TickCounts } from './polling-producer.ts';
import type { PriceFeed } from './sources/types.ts';
import { validatePriceUpdate } from '../topics/price-update.ts';

/** Default staleness limit for live sources: a bar that ended longer ago than this is dead-lettered. */
export const DEFAULT_MAX_STALENESS_MS = 15 * 60_000;

export interface PriceProducerOptions extends PollingProducerOptions<PriceFeed, PriceUpdate> {
  /** Staleness limit for live sources (yahoo, synthetic); null = no check. */
  maxStalenessMs?: number | null;
  /** Reads the last bars published per symbol (resume.ts); without it a restarted source starts at the latest bar. */
  lastPublished?: (q: LastPublishedQuery) => Promise<LastPublished>;
}

/** What one tick did: fetched, published, invalid, rejected (the price producer does not de-duplicate). */
export type TickResult = Omit<TickCounts, 'duplicates'>;

export type PriceProducer = PollingProducer<TickResult>;

export function createPriceProducer(opts: PriceProducerOptions): PriceProducer {
  const maxStalenessMs = opts.maxStalenessMs === undefined ? DEFAULT_MAX_STALENESS_MS : opts.maxStalenessMs;
  const validateOptions = maxStalenessMs === null ? {} : { maxStalenessMs };
  const inner = createPollingProducer(opts, {
    kind: 'price',
    topic: priceUpdatesOf(opts.config),
    intervalMs: opts.config.PRICE_POLL_SECONDS * 1000,
    keyOf: (p) => p.symbol,
    validate: (p, now) => validatePriceUpdate(p, now, validateOptions),
    resultOf: ({ fetched, published, invalid, rejected }) => ({ fetched, published, invalid, rejected }),
    // A chain's records come from several providers: each record's `source` header names its own.
    ...(opts.source.name === 'chain' ? { sourceOf: (p: PriceUpdate) => p.source } : {}),
  });
  const { source } = opts;
  const log = opts.logger.child({ component: 'price-producer', source: source.name });
  let resumed: Promise<void> | undefined;
  // Once, before the first fetch. A failed look is logged and the source starts fresh: a hole is better than no prices
  // (backfill can fill it), and the look is not retried on every tick.
  const resumeOnce = (now: number) => resumed ??= (async () => {
    if (!opts.lastPublished || !source.resumeQuery || !source.resume) return;
    const { interval, since, values } = source.resumeQuery(now);
    const symbols = opts.symbols ?? opts.config.SYMBOLS;
    try {
      const own = source.recordSources ?? (source.name === 'chain' ? [] : [source.name]);
      const { last, bars, complete } = await opts.lastPublished({ symbols, interval, since, sources: [...own, 'backfill'], ...(values ? { values } : {}) });
      source.resume(last, bars);
      const found = Object.fromEntries([...last].map(([s, t]) => [s, new Date(t).toISOString()]));
      (complete ? log.info.bind(log) : log.warn.bind(log))({ interval, since: new Date(since).toISOString(), found, complete },
        complete ? 'resuming after the last bars published' : 'resuming from a partial read of the topic (timed out)');
    } catch (err) {
      log.warn({ err }, 'could not read the last bars published: starting at the latest bar');
    }
  })();
  const clock = opts.clock ?? Date.now;
  return {
    start: async () => { await resumeOnce(clock()); return inner.start(); },
    stop: inner.stop,
    publishOnce: async (now?: number) => { await resumeOnce(now ?? clock()); return inner.publishOnce(now); },
    get ticks() { return inner.ticks; },
    get totals() { return inner.totals; },
  };
}
