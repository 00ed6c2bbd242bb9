// The price producer: every interval, fetch bars from a source, validate them, publish the good ones to
// price-updates (key = symbol) and dead-letter the bad ones with the reason. start() runs until stop(), a tick
// count, or a finite source running dry; stop() lets the tick in flight finish.
import { randomUUID } from 'node:crypto';
import type { Config } from '../lib/config.ts';
import { standardHeaders } from '../lib/dlq.ts';
import { ValidationError, errorMessage } from '../lib/errors.ts';
import type { Logger } from '../lib/logger.ts';
import type { DeadLetter, Publisher } from '../lib/publisher.ts';
import type { PriceUpdate } from '../schemas/types.generated.ts';
import { priceUpdatesOf, type TopicDef } from '../topics/index.ts';
import type { PriceSource } from './sources/types.ts';
import { validatePriceUpdate } from './validate.ts';

/** Default staleness limit for live sources: a bar that ended longer ago than this is dead-lettered. */
export const DEFAULT_MAX_STALENESS_MS = 15 * 60_000;

export interface PriceProducerOptions {
  config: Config;
  logger: Logger;
  publisher: Publisher;
  source: PriceSource;
  /** Symbols to fetch (default config SYMBOLS); empty = whatever the source has (file). */
  symbols?: readonly string[];
  /** Time between the starts of two ticks (default config PRICE_POLL_SECONDS). */
  intervalMs?: number;
  /** Stop after this many ticks. */
  maxTicks?: number;
  /** Staleness limit for live sources (yahoo, synthetic); null = no check. */
  maxStalenessMs?: number | null;
  /** Topic to publish to (default price-updates; tests use an isolated copy). */
  topic?: TopicDef<PriceUpdate>;
  clock?: () => number;
}

export interface TickResult {
  /** Records the source returned. */
  fetched: number;
  published: number;
  /** Records that failed validation (dead-lettered). */
  invalid: number;
  /** Inputs the source could not parse (dead-lettered). */
  rejected: number;
}

export interface PriceProducer {
  /** Runs ticks until stop(), maxTicks or an exhausted source; resolves when the loop has ended. */
  start(): Promise<void>;
  /** Stops after the tick in flight; resolves once it is done. */
  stop(): Promise<void>;
  /** One fetch → validate → publish round; errors propagate. */
  publishOnce(now?: number): Promise<TickResult>;
  readonly ticks: number;
  readonly totals: Readonly<TickResult>;
}

export function createPriceProducer(opts: PriceProducerOptions): PriceProducer {
  const { publisher, source } = opts;
  const symbols = opts.symbols ?? opts.config.SYMBOLS;
  const intervalMs = opts.intervalMs ?? opts.config.PRICE_POLL_SECONDS * 1000;
  const topic = opts.topic ?? priceUpdatesOf(opts.config);
  const clock = opts.clock ?? Date.now;
  const maxStalenessMs = opts.maxStalenessMs === undefined ? DEFAULT_MAX_STALENESS_MS : opts.maxStalenessMs;
  const logger = opts.logger.child({ component: 'price-producer', source: source.name, topic: topic.name });
  const totals: TickResult = { fetched: 0, published: 0, invalid: 0, rejected: 0 };
  let ticks = 0;
  let loop: Promise<void> | null = null;
  let stopping = false;
  let wake: (() => void) | null = null;

  function deadLetterOf(key: string | null, raw: unknown, reason: string, headers: Record<string, string>): DeadLetter {
    return { key, value: Buffer.from(JSON.stringify(raw)), headers, error: new ValidationError(reason) };
  }

  async function publishOnce(now = clock()): Promise<TickResult> {
    const started = clock();
    const correlationId = randomUUID();
    const fetched = await source.fetch(symbols, now);
    const rejectedInputs = source.takeRejected?.() ?? [];
    const good: PriceUpdate[] = [];
    const bad: DeadLetter[] = [];
    const headers = standardHeaders({ source: source.name, correlationId });
    const reasons: string[] = [];
    for (const p of fetched) {
      const reason = validatePriceUpdate(p, now, maxStalenessMs === null ? {} : { maxStalenessMs });
      if (reason === null) good.push(p);
      else { bad.push(deadLetterOf(p.symbol, p, reason, headers)); reasons.push(`${p.symbol}: ${reason}`); }
    }
    for (const r of rejectedInputs) { bad.push(deadLetterOf(r.symbol, r.raw, r.reason, headers)); reasons.push(r.reason); }
    if (good.length > 0) await publisher.send(topic, good, { source: source.name, correlationId });
    if (bad.length > 0) await publisher.deadLetter(topic, bad);

    const result: TickResult = { fetched: fetched.length, published: good.length, invalid: fetched.length - good.length, rejected: rejectedInputs.length };
    totals.fetched += result.fetched; totals.published += result.published; totals.invalid += result.invalid; totals.rejected += result.rejected;
    const log = { tick: ticks + 1, ...result, durationMs: clock() - started, correlationId };
    if (bad.length > 0) logger.warn({ ...log, reasons: reasons.slice(0, 10) }, 'price tick: some records dead-lettered');
    else logger.info(log, 'price tick');
    return result;
  }

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => { wake = null; resolve(); }, ms);
      wake = () => { clearTimeout(timer); wake = null; resolve(); };
    });
  }

  async function run(): Promise<void> {
    logger.info({ symbols, intervalMs, maxTicks: opts.maxTicks }, 'price producer started');
    while (!stopping) {
      const started = clock();
      try {
        await publishOnce(started);
      } catch (err) {
        // A failed tick (source down, circuit open, Kafka unavailable after retries) is logged; the next tick tries again.
        logger.error({ tick: ticks + 1, err: errorMessage(err), errClass: (err as Error)?.name }, 'price tick failed');
      }
      ticks++;
      if (opts.maxTicks !== undefined && ticks >= opts.maxTicks) break;
      if (source.exhausted?.()) { logger.info('source has nothing more: stopping'); break; }
      if (stopping) break;
      await sleep(Math.max(0, started + intervalMs - clock()));
    }
    logger.info({ ticks, ...totals }, 'price producer stopped');
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
