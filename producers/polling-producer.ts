// What the price and events producers share: every interval (periodic.ts), fetch records from a source, drop ids
// already published (when given a memory of them, which may instead admit a record merged with what was published), validate, publish the good ones and dead-letter the bad ones and
// the inputs the source could not parse, with the reason; one log line and running totals per tick. What was
// dead-lettered is remembered (bounded, REFUSED_CAPACITY): a feed that repeats a refused record or input on every
// poll (a news feed repeats its latest items; a source without a cursor) has it dead-lettered once, then dropped as a
// duplicate. The same data refused again is recognised by its content, minus the fetch time (`ingestTime`), so a
// corrected record under the same key is validated afresh; a record refused only for its time (in the future) stays
// refused while remembered: redrive it from the DLQ (ops/dlq) if it was wanted.
import { createHash, randomUUID } from 'node:crypto';
import type { Config } from '../lib/config.ts';
import { RecordHeaders, standardHeaders } from '../lib/record-headers.ts';
import { ValidationError } from '../lib/errors.ts';
import type { Logger } from '../lib/logger.ts';
import type { DeadLetter, Publisher } from '../lib/publisher.ts';
import type { TopicDef } from '../topics/index.ts';
import { createSeenIds, type PublishedMemory } from './events/seen.ts';
import { createPeriodic } from './periodic.ts';
import type { RejectedInput } from './sources/types.ts';

/** The part of a price or event source the loop uses. */
export interface PolledSource<T> {
  readonly name: string;
  fetch(symbols: readonly string[], now: number): Promise<T[]>;
  takeRejected?(): RejectedInput[];
  exhausted?(): boolean;
  /** Kafka acknowledged these (published or dead-lettered): the source may move its cursor past them. */
  acknowledge?(records: readonly T[]): void;
}

/** How many refused records and inputs a producer remembers (the oldest are forgotten first, then dead-lettered again). */
export const REFUSED_CAPACITY = 10_000;

/** Everything one tick counts; each producer reports the fields that apply to it (resultOf). */
export interface TickCounts {
  /** Records the source returned. */
  fetched: number;
  /**
   * Dropped because their key was already published, this tick or an earlier one (only with `seen`), or because the same
   * record or input was already dead-lettered by an earlier tick.
   */
  duplicates: number;
  published: number;
  /** Records that failed validation (dead-lettered). */
  invalid: number;
  /** Inputs the source could not parse (dead-lettered; an input already dead-lettered by an earlier tick is not counted). */
  rejected: number;
}

export interface PollingProducer<R> {
  /** Runs ticks until stop(), maxTicks or an exhausted source; resolves when the loop has ended. */
  start(): Promise<void>;
  /** Stops after the tick in flight; resolves once it is done. */
  stop(): Promise<void>;
  /** One fetch → validate → publish round; errors propagate. */
  publishOnce(now?: number): Promise<R>;
  readonly ticks: number;
  readonly totals: Readonly<R>;
}

/** What a caller of the price or events producer gives: the parts both loops are built from. */
export interface PollingProducerOptions<S, T> {
  config: Config;
  logger: Logger;
  publisher: Publisher;
  source: S;
  /** Symbols to fetch (default config SYMBOLS); empty = whatever the source has (file). */
  symbols?: readonly string[];
  /** Time between the starts of two ticks (default: the producer's poll interval from config). */
  intervalMs?: number;
  /** Stop after this many ticks. */
  maxTicks?: number;
  /** Topic to publish to (default: the producer's topic; tests use an isolated copy). */
  topic?: TopicDef<T>;
  clock?: () => number;
}

/** What a producer adds to the shared loop. */
export interface PollingProducerSpec<T, R> {
  /** 'price' or 'events': log messages say `<kind> producer started`, `<kind> tick`; the component is `<kind>-producer`. */
  kind: string;
  /** Topic when the caller names none. */
  topic: TopicDef<T>;
  /** Interval when the caller gives none. */
  intervalMs: number;
  /** Key of a record's dead letter, and with `seen` its identity. */
  keyOf(record: T): string;
  /** null when valid, otherwise the reason. */
  validate(record: T, now: number): string | null;
  /**
   * What was already published, by key: a record it does not admit (nothing new against what was published and what
   * was accepted earlier in the same tick) is a duplicate; one it admits may come back merged (an event's symbols).
   * Records are remembered only once Kafka acknowledged the send, so a failed tick's records are offered again.
   */
  seen?: PublishedMemory<T>;
  /** The result a tick reports (and totals sum) from its counts. */
  resultOf(counts: TickCounts): R;
  /** The `source` header of each record, when not the source's name (a chain's records name their provider). */
  sourceOf?(record: T): string;
}

export function createPollingProducer<T, R extends { [K in keyof R]: number }>(
  opts: PollingProducerOptions<PolledSource<T>, T>, spec: PollingProducerSpec<T, R>,
): PollingProducer<R> {
  const { publisher, source } = opts;
  const topic = opts.topic ?? spec.topic;
  const symbols = opts.symbols ?? opts.config.SYMBOLS;
  const clock = opts.clock ?? Date.now;
  const logger = opts.logger.child({ component: `${spec.kind}-producer`, source: source.name, topic: topic.name });
  const o = { ...spec, symbols };
  const totals = o.resultOf({ fetched: 0, duplicates: 0, published: 0, invalid: 0, rejected: 0 });

  const refused = createSeenIds(REFUSED_CAPACITY);
  /** The identity of a refused record: its key and a hash of its content without the fetch time. */
  const refusalOf = (key: string | null, content: unknown, reason = ''): string => {
    const data = content !== null && typeof content === 'object' && 'ingestTime' in content ? { ...content, ingestTime: null } : content;
    return `${key ?? ''}\n${createHash('sha256').update(`${reason}\n${JSON.stringify(data)}`).digest('hex')}`;
  };

  function deadLetterOf(key: string | null, raw: unknown, reason: string, headers: Record<string, string>): DeadLetter {
    return { key, value: Buffer.from(JSON.stringify(raw)), headers, error: new ValidationError(reason) };
  }

  async function publishOnce(now = clock()): Promise<R> {
    const started = clock();
    const correlationId = randomUUID();
    const fetched = await source.fetch(o.symbols, now);
    const rejectedInputs = source.takeRejected?.() ?? [];
    const headers = standardHeaders({ source: source.name, correlationId });
    const good: T[] = [];
    const goodKeys = new Map<string, number>(); // key → index in good
    const bad: DeadLetter[] = [];
    const badRefusals = new Set<string>();
    const reasons: string[] = [];
    let duplicates = 0;
    let invalid = 0;
    const refuse = (refusal: string, letter: DeadLetter, reason: string): boolean => {
      if (refused.has(refusal) || badRefusals.has(refusal)) { duplicates++; return false; }
      badRefusals.add(refusal); bad.push(letter); reasons.push(reason);
      return true;
    };
    for (const r of fetched) {
      const key = o.keyOf(r);
      const pending = goodKeys.get(key);
      const admitted = o.seen ? o.seen.admit(r, pending === undefined ? undefined : good[pending]) : r;
      if (admitted === null) { duplicates++; continue; }
      const reason = o.validate(admitted, now);
      if (reason === null) {
        if (pending !== undefined && o.seen) { good[pending] = admitted; duplicates++; } // merged into this tick's record
        else { goodKeys.set(key, good.length); good.push(admitted); }
      } else if (refuse(refusalOf(key, admitted), deadLetterOf(key, admitted, reason, headers), `${key}: ${reason}`)) invalid++;
    }
    let rejected = 0;
    for (const r of rejectedInputs) if (refuse(refusalOf(r.symbol, r.raw, r.reason), deadLetterOf(r.symbol, r.raw, r.reason, headers), r.reason)) rejected++;
    if (good.length > 0) {
      const records = o.sourceOf ? { records: good.map((r) => ({ headers: { [RecordHeaders.source]: o.sourceOf!(r) } })) } : {};
      await publisher.send(topic, good, { source: source.name, correlationId, ...records });
    }
    if (o.seen) for (const r of good) o.seen.remember(r);
    if (bad.length > 0) await publisher.deadLetter(topic, bad);
    for (const refusal of badRefusals) refused.add(refusal);
    // Only now, with every record acknowledged, may the source move past them; a failed send is fetched again.
    source.acknowledge?.(fetched);

    const result = o.resultOf({
      fetched: fetched.length, duplicates, published: good.length, invalid, rejected,
    });
    for (const k of Object.keys(totals) as (keyof R)[]) (totals[k] as number) += result[k];
    const log: Record<string, unknown> = { tick: periodic.runs + 1, ...result, durationMs: clock() - started, correlationId };
    if (bad.length > 0) logger.warn({ ...log, reasons: reasons.slice(0, 10) }, `${o.kind} tick: some records dead-lettered`);
    else logger.info(log, `${o.kind} tick`);
    return result;
  }

  const periodic = createPeriodic({
    name: `${o.kind} producer`, unit: 'tick', logger, clock, intervalMs: opts.intervalMs ?? spec.intervalMs, run: publishOnce,
    ...(opts.maxTicks !== undefined ? { maxRuns: opts.maxTicks } : {}),
    exhausted: () => source.exhausted?.() ?? false,
    describe: { symbols: o.symbols },
    summary: () => ({ ...totals }),
  });

  return {
    start: periodic.start,
    stop: periodic.stop,
    publishOnce,
    get ticks() { return periodic.runs; },
    get totals() { return totals; },
  };
}
