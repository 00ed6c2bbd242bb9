// The events producer: every interval (default 5 min), fetch market events (news) from a source, drop the ids it
// already published (bounded memory), validate them, publish the good ones to market-events (key = event id) and
// dead-letter the bad ones with the reason. start() runs until stop(), a tick count, or a finite source (a file)
// running dry; stop() lets the tick in flight finish. An id counts as published only once Kafka acknowledged it,
// so a failed tick's events are offered again by the next fetch of a live feed.
import { randomUUID } from 'node:crypto';
import type { Config } from '../lib/config.ts';
import { standardHeaders } from '../lib/dlq.ts';
import { ValidationError, errorMessage } from '../lib/errors.ts';
import type { Logger } from '../lib/logger.ts';
import type { DeadLetter, Publisher } from '../lib/publisher.ts';
import type { MarketEvent } from '../schemas/types.generated.ts';
import { marketEvents, type TopicDef } from '../topics/index.ts';
import { createSeenIds } from './events/seen.ts';
import type { EventSource } from './events/types.ts';
import { validateMarketEvent } from './events/validate.ts';

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

export interface EventsTickResult {
  /** Events the source returned. */
  fetched: number;
  /** Dropped because their id was already published (this tick or an earlier one). */
  duplicates: number;
  published: number;
  /** Events that failed validation (dead-lettered). */
  invalid: number;
  /** Inputs the source could not parse (dead-lettered). */
  rejected: number;
}

export interface EventsProducer {
  /** Runs ticks until stop(), maxTicks or an exhausted source; resolves when the loop has ended. */
  start(): Promise<void>;
  /** Stops after the tick in flight; resolves once it is done. */
  stop(): Promise<void>;
  /** One fetch → de-duplicate → validate → publish round; errors propagate. */
  publishOnce(now?: number): Promise<EventsTickResult>;
  readonly ticks: number;
  readonly totals: Readonly<EventsTickResult>;
}

export function createEventsProducer(opts: EventsProducerOptions): EventsProducer {
  const { publisher, source } = opts;
  const symbols = opts.symbols ?? opts.config.SYMBOLS;
  const intervalMs = opts.intervalMs ?? opts.config.EVENT_POLL_SECONDS * 1000;
  const topic = opts.topic ?? marketEvents;
  const clock = opts.clock ?? Date.now;
  const seen = createSeenIds(opts.dedupCapacity ?? DEFAULT_DEDUP_CAPACITY);
  const logger = opts.logger.child({ component: 'events-producer', source: source.name, topic: topic.name });
  const totals: EventsTickResult = { fetched: 0, duplicates: 0, published: 0, invalid: 0, rejected: 0 };
  let ticks = 0;
  let loop: Promise<void> | null = null;
  let stopping = false;
  let wake: (() => void) | null = null;

  function deadLetterOf(key: string | null, raw: unknown, reason: string, headers: Record<string, string>): DeadLetter {
    return { key, value: Buffer.from(JSON.stringify(raw)), headers, error: new ValidationError(reason) };
  }

  async function publishOnce(now = clock()): Promise<EventsTickResult> {
    const started = clock();
    const correlationId = randomUUID();
    const fetched = await source.fetch(symbols, now);
    const rejectedInputs = source.takeRejected?.() ?? [];
    const headers = standardHeaders({ source: source.name, correlationId });
    const fresh = new Map<string, MarketEvent>();
    const bad: DeadLetter[] = [];
    const reasons: string[] = [];
    let duplicates = 0;
    for (const e of fetched) {
      if (seen.has(e.id) || fresh.has(e.id)) { duplicates++; continue; }
      const reason = validateMarketEvent(e, now);
      if (reason === null) fresh.set(e.id, e);
      else { bad.push(deadLetterOf(e.id, e, reason, headers)); reasons.push(`${e.id}: ${reason}`); }
    }
    for (const r of rejectedInputs) { bad.push(deadLetterOf(r.symbol, r.raw, r.reason, headers)); reasons.push(r.reason); }
    const good = [...fresh.values()];
    if (good.length > 0) await publisher.send(topic, good, { source: source.name, correlationId });
    for (const e of good) seen.add(e.id);
    if (bad.length > 0) await publisher.deadLetter(topic, bad);

    const result: EventsTickResult = { fetched: fetched.length, duplicates, published: good.length, invalid: fetched.length - duplicates - good.length, rejected: rejectedInputs.length };
    for (const k of Object.keys(totals) as (keyof EventsTickResult)[]) totals[k] += result[k];
    const log = { tick: ticks + 1, ...result, durationMs: clock() - started, correlationId };
    if (bad.length > 0) logger.warn({ ...log, reasons: reasons.slice(0, 10) }, 'events tick: some records dead-lettered');
    else logger.info(log, 'events tick');
    return result;
  }

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => { wake = null; resolve(); }, ms);
      wake = () => { clearTimeout(timer); wake = null; resolve(); };
    });
  }

  async function run(): Promise<void> {
    logger.info({ symbols, intervalMs, maxTicks: opts.maxTicks }, 'events producer started');
    while (!stopping) {
      const started = clock();
      try {
        await publishOnce(started);
      } catch (err) {
        // A failed tick (source down, circuit open, Kafka unavailable after retries) is logged; the next tick tries again.
        logger.error({ tick: ticks + 1, err: errorMessage(err), errClass: (err as Error)?.name }, 'events tick failed');
      }
      ticks++;
      if (opts.maxTicks !== undefined && ticks >= opts.maxTicks) break;
      if (source.exhausted?.()) { logger.info('source has nothing more: stopping'); break; }
      if (stopping) break;
      await sleep(Math.max(0, started + intervalMs - clock()));
    }
    logger.info({ ticks, ...totals }, 'events producer stopped');
  }

  return {
    start() {
      if (loop) return loop;
      stopping = false;
      loop = run().finally(() => { loop = null; });
      return loop;
    },
    async stop() {
      stopping = true;
      wake?.();
      await loop;
    },
    publishOnce,
    get ticks() { return ticks; },
    get totals() { return totals; },
  };
}
